//! The data dir's secrets key: 32 random bytes for ChaCha20-Poly1305, kept hex-encoded in
//! `<data-dir>/secrets-encryption.key` (mode 0600), as k3s keeps its encryption config
//! under `server/cred`. Its id (a hash prefix) is written beside every sealed object, so
//! a store sealed under another key is told apart from a damaged one.

use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use super::EncryptionError;
use crate::pki::files::{read_optional, write_atomic, SECRET};

/// The key file's name under the data dir.
pub const KEY_FILE: &str = "secrets-encryption.key";

const KEY_LEN: usize = 32;

pub struct SecretsKey {
    id: String,
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretsKey({})", self.id)
    }
}

impl SecretsKey {
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("a 32-byte key");
        SecretsKey {
            id: hex::encode(&Sha256::digest(bytes)[..4]),
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        }
    }

    pub fn generate() -> (Self, [u8; KEY_LEN]) {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system's random source works");
        (Self::from_bytes(&bytes), bytes)
    }

    /// The key's short id, as written into sealed objects.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `nonce || ciphertext || tag`; `aad` binds it to one object.
    pub(super) fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed,
            )
            .expect("sealing in memory cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The plaintext, or `None` when the tag does not verify (another key, or damage).
    pub(super) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

/// The key in `path`, `None` when the file does not exist.
pub fn load(path: &Path) -> Result<Option<SecretsKey>, EncryptionError> {
    let file_error = |reason: String| EncryptionError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let Some(text) = read_optional(path).map_err(|e| file_error(e.to_string()))? else {
        return Ok(None);
    };
    let bytes = hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; KEY_LEN]>::try_from(b).ok())
        .ok_or_else(|| file_error(format!("expected {} hex digits", KEY_LEN * 2)))?;
    Ok(Some(SecretsKey::from_bytes(&bytes)))
}

/// Generates a key and writes it to `path` (0600, atomically).
pub fn create(path: &Path) -> Result<SecretsKey, EncryptionError> {
    let (key, bytes) = SecretsKey::generate();
    let text = format!("{}\n", hex::encode(bytes));
    write_atomic(path, text.as_bytes(), SECRET).map_err(|e| EncryptionError::KeyFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    tracing::info!(path = %path.display(), key = key.id(), "secrets encryption key created");
    Ok(key)
}
