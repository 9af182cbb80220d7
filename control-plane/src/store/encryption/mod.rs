//! Secrets encrypted at rest (docs/architecture.md, Secrets at rest), as k3s'
//! `--secrets-encryption`: a [`Store`] wrapper that seals the JSON of every Secret with
//! ChaCha20-Poly1305 before the backend sees it and opens it on every read, watch event
//! and delete. Everything above (API, controllers, GetPodObject) sees plaintext; the
//! backend (the SQLite file and its WAL, the event log) only ever holds ciphertext.
//!
//! A sealed object is `skiff:enc:chacha20poly1305:v1:<key id>:` followed by nonce,
//! ciphertext and tag; the object's key (`Secret/ns/name`) is the associated data, so a
//! sealed value copied onto another object does not open. Objects without the prefix
//! (written before encryption existed) are read as they are until [`open`] rewrites them.

mod key;
mod startup;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;

use super::{BoxFuture, EventStream, Key, ProgressStream, Store, StoreError, Stored, Watched};

pub use key::{key_path, SecretsKey, KEY_FILE};
pub use startup::open;

/// Kinds sealed at rest.
pub const ENCRYPTED_KINDS: &[&str] = &["Secret"];

const PREFIX: &str = "skiff:enc:chacha20poly1305:v1:";

#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    #[error("secrets encryption key {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error(
        "the store holds {count} encrypted secret(s) but the key file {path} is missing: \
         restore it from a backup of the data dir (a new key could not read them)"
    )]
    MissingKey { path: PathBuf, count: usize },
    #[error(
        "{object} was encrypted with key {found}, but {path} holds key {expected}: \
         restore the data dir's original key file"
    )]
    WrongKey {
        /// `Secret/ns/name`.
        object: String,
        found: String,
        expected: String,
        path: PathBuf,
    },
    #[error("{object} does not decrypt with key {key}: the stored value is damaged")]
    Damaged { object: String, key: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A [`Store`] that seals [`ENCRYPTED_KINDS`] on the way in and opens them on the way out.
#[derive(Clone)]
pub struct EncryptedStore {
    inner: Arc<dyn Store>,
    key: Arc<SecretsKey>,
}

impl std::fmt::Debug for EncryptedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedStore({:?})", self.key)
    }
}

impl EncryptedStore {
    pub fn new(inner: Arc<dyn Store>, key: SecretsKey) -> Self {
        EncryptedStore {
            inner,
            key: Arc::new(key),
        }
    }

    /// The backend below, which sees only ciphertext.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    fn seal(&self, key: &Key, json: Vec<u8>) -> Vec<u8> {
        if !encrypted_kind(&key.kind) {
            return json;
        }
        let sealed = self.key.seal(aad(key).as_bytes(), &json);
        [format!("{PREFIX}{}:", self.key.id()).as_bytes(), &sealed].concat()
    }

    /// The plaintext of a stored object (unchanged when it is not sealed).
    fn unseal(&self, mut stored: Stored) -> Result<Stored, EncryptionError> {
        if let Some(json) = self.open_json(&stored.key, &stored.json)? {
            stored.json = json;
        }
        Ok(stored)
    }

    /// `None` when `json` is not sealed.
    fn open_json(&self, key: &Key, json: &[u8]) -> Result<Option<Vec<u8>>, EncryptionError> {
        let Some(rest) = json.strip_prefix(PREFIX.as_bytes()) else {
            return Ok(None);
        };
        let split = rest.iter().position(|b| *b == b':').unwrap_or(rest.len());
        let (found, sealed) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
        let found = String::from_utf8_lossy(found).into_owned();
        if found != self.key.id() {
            return Err(EncryptionError::WrongKey {
                object: key.to_string(),
                found,
                expected: self.key.id().to_string(),
                path: PathBuf::from(KEY_FILE),
            });
        }
        match self.key.open(aad(key).as_bytes(), sealed) {
            Some(plain) => Ok(Some(plain)),
            None => Err(EncryptionError::Damaged {
                object: key.to_string(),
                key: found,
            }),
        }
    }

    fn read(&self, stored: Stored) -> Result<Stored, StoreError> {
        self.unseal(stored)
            .map_err(|e| StoreError::Backend(e.to_string()))
    }
}

/// Whether `json` of an object is sealed (without opening it).
pub fn is_sealed(json: &[u8]) -> bool {
    json.starts_with(PREFIX.as_bytes())
}

fn encrypted_kind(kind: &str) -> bool {
    ENCRYPTED_KINDS.contains(&kind)
}

fn aad(key: &Key) -> String {
    key.to_string()
}

impl Store for EncryptedStore {
    fn get(&self, key: &Key) -> BoxFuture<'_, Result<Option<Stored>, StoreError>> {
        let key = key.clone();
        Box::pin(async move {
            let stored = self.inner.get(&key).await?;
            stored.map(|s| self.read(s)).transpose()
        })
    }

    fn list(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> BoxFuture<'_, Result<(Vec<Stored>, i64), StoreError>> {
        let (kind, namespace) = (kind.to_string(), namespace.map(str::to_string));
        Box::pin(async move {
            let (items, revision) = self.inner.list(&kind, namespace.as_deref()).await?;
            let items = items
                .into_iter()
                .map(|s| self.read(s))
                .collect::<Result<_, _>>()?;
            Ok((items, revision))
        })
    }

    fn create(
        &self,
        key: Key,
        uid: String,
        json: Vec<u8>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        Box::pin(async move {
            let sealed = self.seal(&key, json.clone());
            let mut stored = self.inner.create(key, uid, sealed).await?;
            stored.json = json;
            Ok(stored)
        })
    }

    fn update(
        &self,
        key: Key,
        json: Vec<u8>,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        Box::pin(async move {
            let sealed = self.seal(&key, json.clone());
            let mut stored = self.inner.update(key, sealed, expected).await?;
            stored.json = json;
            Ok(stored)
        })
    }

    fn delete(
        &self,
        key: &Key,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        let key = key.clone();
        Box::pin(async move {
            let stored = self.inner.delete(&key, expected).await?;
            self.read(stored)
        })
    }

    fn watch(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<EventStream, StoreError>> {
        let kind = kind.map(str::to_string);
        Box::pin(async move {
            let events = self.inner.watch(kind.as_deref(), from).await?;
            let this = self.clone();
            let opened = events.map(move |event| {
                let mut event = event?;
                event.object = this.read(event.object)?;
                Ok(event)
            });
            Ok(opened.boxed())
        })
    }

    fn watch_progress(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<ProgressStream, StoreError>> {
        let kind = kind.map(str::to_string);
        Box::pin(async move {
            let watched = self.inner.watch_progress(kind.as_deref(), from).await?;
            let this = self.clone();
            let opened = watched.map(move |item| match item? {
                Watched::Event(mut event) => {
                    event.object = this.read(event.object)?;
                    Ok(Watched::Event(event))
                }
                progress => Ok(progress),
            });
            Ok(opened.boxed())
        })
    }

    fn list_at(
        &self,
        kind: &str,
        namespace: Option<&str>,
        revision: i64,
    ) -> BoxFuture<'_, Result<Vec<Stored>, StoreError>> {
        let (kind, namespace) = (kind.to_string(), namespace.map(str::to_string));
        Box::pin(async move {
            let items = self
                .inner
                .list_at(&kind, namespace.as_deref(), revision)
                .await?;
            items.into_iter().map(|s| self.read(s)).collect()
        })
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.inner.current_revision()
    }

    fn compacted_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.inner.compacted_revision()
    }

    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.compact(revision)
    }
}
