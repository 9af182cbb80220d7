//! A server joining a running one (`skiff-control-plane --join https://FIRST:6443
//! --token K10<hash>::server:<secret>`), as k3s' `--server`: it dials FIRST, takes the
//! CA from the TLS handshake only if its sha256 is the token's hash (the pin), then asks
//! `GET` [`PATH`] with the token as a bearer over TLS that trusts only that CA, and gets
//! the [`SHARED`] files: the CA and its key, the service-account key, the
//! secrets-encryption key, the admin, node and server tokens. They are written into its
//! own data dir with the PKI's atomic writes; its own serving, admin and control-plane
//! certificates are then made as on any start. A data dir that already has another CA
//! is refused: two servers with different CAs must never share a store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::Digest;
use skiff_proto::auth::ServerToken;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::info;

use super::files::{self, PUBLIC, SECRET};
use super::PkiError;

/// Where a server answers a joining one.
pub const PATH: &str = "/skiff/v1/join";

/// The files every server of a cluster shares, relative to the data dir, with their modes.
pub const SHARED: [(&str, u32); 7] = [
    ("pki/ca.crt", PUBLIC),
    ("pki/ca.key", SECRET),
    ("pki/service-account.key", SECRET),
    ("secrets-encryption.key", SECRET),
    ("admin-token", SECRET),
    ("node-token", SECRET),
    ("server-token", SECRET),
];

const TIMEOUT: Duration = Duration::from_secs(15);
/// A bundle is a few kilobytes; more is not a skiff server answering.
const MAX_REPLY: usize = 1 << 20;

/// What a server hands a joining one: the [`SHARED`] files' contents by path.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bundle {
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("--token: {0}")]
    Token(String),
    #[error("{server}: {reason}")]
    Server { server: String, reason: String },
    #[error("{server} does not present the CA the server token pins (another cluster, or someone in between): {reason}")]
    NotPinned { server: String, reason: String },
    #[error("two servers with different CAs: {dir} already has a CA (sha256 {have}) and the cluster at {server} has another (sha256 {want}); give this server an empty --data-dir")]
    OtherCa {
        dir: String,
        server: String,
        have: String,
        want: String,
    },
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// The bundle this server hands out, read from `data_dir` now.
pub fn read_bundle(data_dir: &Path) -> Result<Bundle, PkiError> {
    let mut files = BTreeMap::new();
    for (name, _) in SHARED {
        let path = data_dir.join(name);
        let text = files::read_optional(&path)?.ok_or_else(|| PkiError::Corrupt {
            what: path.display().to_string(),
            reason: "missing: a joining server needs it".into(),
        })?;
        files.insert(name.to_string(), text);
    }
    Ok(Bundle { files })
}

/// sha256 of a PEM certificate's DER, hex; `None` when it is no certificate.
fn pem_sha256(pem: &str) -> Option<String> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    Some(hex::encode(sha2::Sha256::digest(&parsed.contents)))
}

/// Writes `bundle` into `data_dir` after checking it: every shared file and nothing
/// else, its CA the one `token` pins, and no other CA in `data_dir` already.
pub fn install_bundle(
    data_dir: &Path,
    server: &str,
    token: &ServerToken,
    bundle: &Bundle,
) -> Result<(), JoinError> {
    let bad = |reason: String| JoinError::Server {
        server: server.to_string(),
        reason,
    };
    let expected: Vec<&str> = SHARED.iter().map(|(name, _)| *name).collect();
    let got: Vec<&str> = bundle.files.keys().map(String::as_str).collect();
    let mut sorted = expected.clone();
    sorted.sort_unstable();
    if got != sorted {
        return Err(bad(format!("sent the files {got:?}, expected {sorted:?}")));
    }
    let ca = &bundle.files["pki/ca.crt"];
    let want = pem_sha256(ca).ok_or_else(|| bad("sent a CA that is no certificate".into()))?;
    if want != token.0.ca_hash {
        return Err(JoinError::NotPinned {
            server: server.to_string(),
            reason: "the CA it sent is not the one the token names".into(),
        });
    }
    let ca_path = data_dir.join("pki/ca.crt");
    if let Some(have) = files::read_optional(&ca_path)? {
        let have = pem_sha256(&have).unwrap_or_else(|| "unreadable".into());
        if have != want {
            return Err(JoinError::OtherCa {
                dir: data_dir.display().to_string(),
                server: server.to_string(),
                have,
                want,
            });
        }
    }
    files::ensure_dir(&data_dir.join("pki"), super::files::DIR)?;
    // The CA certificate last: its presence means the rest is there (as on a first start).
    for (name, mode) in SHARED.iter().rev() {
        files::write_atomic(&data_dir.join(name), bundle.files[*name].as_bytes(), *mode)?;
    }
    info!(server, dir = %data_dir.display(), ca_sha256 = %want, "joined: the cluster's CA, keys and tokens written");
    Ok(())
}

/// True when `data_dir` already holds every shared file with the CA `token` pins (a
/// restart with `--join` still given: nothing to fetch, so the first server need not be
/// up); another CA there is refused as at join.
pub fn already_joined(
    data_dir: &Path,
    server: &str,
    token: &ServerToken,
) -> Result<bool, JoinError> {
    let Some(have) = files::read_optional(&data_dir.join("pki/ca.crt"))? else {
        return Ok(false);
    };
    let have = pem_sha256(&have).unwrap_or_else(|| "unreadable".into());
    if have != token.0.ca_hash {
        return Err(JoinError::OtherCa {
            dir: data_dir.display().to_string(),
            server: server.to_string(),
            have,
            want: token.0.ca_hash.clone(),
        });
    }
    Ok(SHARED.iter().all(|(name, _)| data_dir.join(name).is_file()))
}

/// Fetches the bundle from the server at `server` (`https://HOST:PORT`) with `token`.
pub async fn fetch_bundle(server: &str, token: &ServerToken) -> Result<Bundle, JoinError> {
    let ca_pem = skiff_proto::auth::fetch_ca_pinned_by(server, &token.0)
        .await
        .map_err(|e| JoinError::NotPinned {
            server: server.to_string(),
            reason: e.to_string(),
        })?;
    let failed = |reason: String| JoinError::Server {
        server: server.to_string(),
        reason,
    };
    let uri: http::Uri = server
        .parse()
        .map_err(|e| failed(format!("not a URL: {e}")))?;
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let reply = tokio::time::timeout(TIMEOUT, get(&host, port, &ca_pem, &token.to_string()))
        .await
        .map_err(|_| failed(format!("no answer within {TIMEOUT:?}")))?
        .map_err(failed)?;
    let (status, body) = reply;
    match status {
        200 => serde_json::from_slice(&body).map_err(|e| failed(format!("unreadable answer: {e}"))),
        401 => Err(failed("the server token was refused (401)".into())),
        other => Err(failed(format!(
            "answered {other}: {}",
            String::from_utf8_lossy(&body).trim()
        ))),
    }
}

/// `GET PATH` over HTTP/1.1 on TLS that trusts only `ca_pem`: the status and the body.
async fn get(host: &str, port: u16, ca_pem: &str, token: &str) -> Result<(u16, Vec<u8>), String> {
    skiff_proto::auth::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).map_err(|e| e.to_string())?;
    roots.add(pem.contents.into()).map_err(|e| e.to_string())?;
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name =
        rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let request = format!(
        "GET {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    (&mut tls)
        .take(MAX_REPLY as u64)
        .read_to_end(&mut reply)
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    parse_reply(&reply)
}

/// Status and body of an HTTP/1.1 reply with a `content-length` (what the server sends).
fn parse_reply(reply: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no end of headers")?;
    let head = String::from_utf8_lossy(&reply[..end]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or("the answer has no status line")?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok());
    let body = &reply[end + 4..];
    let body = match length {
        Some(n) if n <= body.len() => &body[..n],
        Some(n) => return Err(format!("the answer was cut: {} of {n} bytes", body.len())),
        None => body,
    };
    Ok((status, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_by_their_length() {
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: x\r\n\r\n{}";
        assert_eq!(parse_reply(reply).unwrap(), (200, b"{}".to_vec()));
        let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}";
        assert!(parse_reply(cut).unwrap_err().contains("cut"));
        assert!(parse_reply(b"HTTP/1.1 200").is_err());
    }
}
