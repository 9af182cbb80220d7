//! `<data-dir>/admin-token`: a bearer token for the cluster administrator, for clients
//! that carry no client certificate (`kubectl --token=...`, CI scripts, dashboards). It
//! stands for the same identity as `admin.conf`'s certificate (O `system:masters`).

use std::path::{Path, PathBuf};

use rand::RngCore;
use tracing::{info, warn};

use super::files::{self, SECRET};
use super::PkiError;

/// `<data-dir>/admin-token`.
pub fn admin_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-token")
}

/// The stored admin token, or a new one (32 random bytes, hex) when there is none or it
/// is unusable. An operator may replace the file with a token of their own (then restart):
/// anything without whitespace inside is kept.
pub(super) fn load_or_create(data_dir: &Path) -> Result<String, PkiError> {
    let path = admin_token_path(data_dir);
    if let Some(text) = files::read_optional(&path)? {
        let token = text.trim();
        if usable(token) {
            files::tighten(&path, SECRET)?;
            return Ok(token.to_string());
        }
        warn!(path = %path.display(), "admin token empty or with whitespace inside, making a new one");
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = hex::encode(secret);
    files::write_atomic(&path, format!("{token}\n").as_bytes(), SECRET)?;
    info!(path = %path.display(), "admin token created");
    Ok(token)
}

/// A token an HTTP `Authorization: Bearer` header can carry.
fn usable(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}
