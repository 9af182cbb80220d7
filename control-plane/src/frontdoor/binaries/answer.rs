//! What a request under [`super::PREFIX`] gets: the checks in order (token, method, path,
//! file), as a [`Reply`] the layer turns into a response.

use std::path::Path;

use http::request::Parts;
use http::{header, Method, StatusCode};
use sha2::{Digest, Sha256};
use skiff_proto::auth::constant_time_eq;
use tracing::{info, warn};

use super::{DEMO_IMAGES, NAMES, PREFIX};

/// The answer to one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The binary's bytes.
    File(Vec<u8>),
    /// `<hex>  <name>\n`, as `sha256sum` prints it.
    Sha256(String),
    /// No token, or not this cluster's.
    Unauthorized,
    /// Only GET (and HEAD) are served.
    MethodNotAllowed,
    /// With a message that says what exists and how to get the rest.
    NotFound(String),
}

impl Reply {
    /// Status, content type and body.
    pub(super) fn parts(self) -> (StatusCode, &'static str, Vec<u8>) {
        const TEXT: &str = "text/plain; charset=utf-8";
        match self {
            Reply::File(bytes) => (StatusCode::OK, "application/octet-stream", bytes),
            Reply::Sha256(line) => (StatusCode::OK, TEXT, line.into_bytes()),
            Reply::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                TEXT,
                b"a node token is needed: Authorization: Bearer <the server's node-token>\n"
                    .to_vec(),
            ),
            Reply::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                TEXT,
                b"only GET is served here\n".to_vec(),
            ),
            Reply::NotFound(message) => (StatusCode::NOT_FOUND, TEXT, message.into_bytes()),
        }
    }
}

/// Answers `req` from the binaries under `dir` (`<data-dir>/bin`), for holders of `token`.
pub async fn answer(dir: &Path, token: &str, req: &Parts) -> Reply {
    if !bearer_matches(req, token) {
        warn!(path = %req.uri.path(), "binaries: request without the node token refused");
        return Reply::Unauthorized;
    }
    if req.method != Method::GET && req.method != Method::HEAD {
        return Reply::MethodNotAllowed;
    }
    let rest = req.uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let Some((arch, file)) = rest.split_once('/') else {
        return Reply::NotFound(format!("expected {PREFIX}<arch>/<name>\n"));
    };
    let (name, want_sha) = match file.strip_suffix(".sha256") {
        Some(name) => (name, true),
        None => (file, false),
    };
    if !NAMES.contains(&name) && !DEMO_IMAGES.contains(&name) {
        return Reply::NotFound(format!(
            "no binary {name:?}: the server keeps {} and the demo images {}\n",
            NAMES.join(", "),
            DEMO_IMAGES.join(", ")
        ));
    }
    let plain_arch =
        !arch.is_empty() && arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let bytes = match plain_arch {
        true => tokio::fs::read(dir.join(arch).join(name)).await.ok(),
        false => None,
    };
    let Some(bytes) = bytes else {
        return Reply::NotFound(missing(dir, arch, name).await);
    };
    if want_sha {
        return Reply::Sha256(format!("{}  {name}\n", hex::encode(Sha256::digest(&bytes))));
    }
    info!(arch, name, bytes = bytes.len(), "binaries: served");
    Reply::File(bytes)
}

/// `Authorization: Bearer <token>`, compared in constant time.
fn bearer_matches(req: &Parts, token: &str) -> bool {
    let presented = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    !token.is_empty() && constant_time_eq(presented.as_bytes(), token.as_bytes())
}

/// The 404 message for an architecture (or binary) this server does not keep.
async fn missing(dir: &Path, arch: &str, name: &str) -> String {
    if DEMO_IMAGES.contains(&name) {
        return format!(
            "this server keeps no demo image {name} for {arch:?}: the quickstart builds them \
             for the server's own architecture only\n"
        );
    }
    let mut have = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            have.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    have.sort();
    let have = match have.is_empty() {
        true => "none".to_string(),
        false => have.join(", "),
    };
    format!(
        "this server has no {name} for {arch:?} (it has: {have}). Cross-build on the server: \
         for aarch64, `SKIFF_CROSS=aarch64 deploy/quickstart.sh` builds and keeps them; else \
         cargo build --release --locked --target {arch}-unknown-linux-gnu -p skiff-agent \
         -p skiff -p skiff-control-plane and copy the three into {}. Or build on the node: \
         SKIFF_BUILD=1 deploy/join.sh ...\n",
        dir.join(arch).display()
    )
}
