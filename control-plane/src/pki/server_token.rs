//! `<data-dir>/server-token`: `K10<sha256 of the CA DER>::server:<secret>`, what
//! another server presents to join this cluster (`--join URL --token ...`, see
//! `join.rs`). Made on first start like the node token; a joined server gets the same.

use std::path::{Path, PathBuf};

use rand::RngCore;
use skiff_proto::auth::ServerToken;
use tracing::{info, warn};

use super::files::{self, SECRET};
use super::PkiError;

/// `<data-dir>/server-token`.
pub fn server_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("server-token")
}

/// The stored server token if it pins this CA, else a new one with a fresh secret.
pub(super) fn load_or_create(data_dir: &Path, ca_der: &[u8]) -> Result<ServerToken, PkiError> {
    let path = server_token_path(data_dir);
    if let Some(text) = files::read_optional(&path)? {
        match ServerToken::parse(&text) {
            Ok(token) if token.pins(ca_der) => {
                files::tighten(&path, SECRET)?;
                return Ok(token);
            }
            Ok(_) => {
                warn!(path = %path.display(), "server token pins another CA, making a new one")
            }
            Err(e) => {
                warn!(path = %path.display(), error = %e, "server token unreadable, making a new one")
            }
        }
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = ServerToken::new(ca_der, hex::encode(secret));
    files::write_atomic(&path, format!("{token}\n").as_bytes(), SECRET)?;
    info!(path = %path.display(), "server token created");
    Ok(token)
}
