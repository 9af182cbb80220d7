//! Start-up: load or make the key, refuse a store the key cannot read, and seal the
//! Secrets still stored in plaintext (written before encryption existed).
//!
//! A missing key with sealed Secrets in the store, or a key that does not open them, stops
//! the control plane with a message saying what to restore; it never makes a new key over
//! data it could then not read.

use std::path::Path;
use std::sync::Arc;

use super::key::{self, key_path};
use super::{is_sealed, EncryptedStore, EncryptionError, ENCRYPTED_KINDS};
use crate::store::{Store, StoreError};

/// What start-up did to the stored secrets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sealed {
    /// Plaintext objects sealed now.
    pub rewritten: usize,
    /// Objects found sealed already (and opened with the key, to check it).
    pub already: usize,
}

/// The store over `inner` with the key under `data_dir`, every stored Secret sealed.
/// When plaintext Secrets were rewritten, the event log up to now is compacted too, so
/// their old plaintext events are gone (watchers relist, as after any compaction).
pub async fn open(
    inner: Arc<dyn Store>,
    data_dir: &Path,
) -> Result<(EncryptedStore, Sealed), EncryptionError> {
    let path = key_path(data_dir);
    let key = match key::load(&path)? {
        Some(key) => key,
        None => {
            let count = count_sealed(inner.as_ref()).await?;
            if count > 0 {
                return Err(EncryptionError::MissingKey { path, count });
            }
            key::create(&path)?
        }
    };
    let store = EncryptedStore::new(inner, key);
    let sealed = seal_existing(&store).await.map_err(|e| match e {
        EncryptionError::WrongKey {
            object,
            found,
            expected,
            ..
        } => EncryptionError::WrongKey {
            object,
            found,
            expected,
            path: path.clone(),
        },
        other => other,
    })?;
    if sealed.rewritten > 0 {
        let revision = store.inner.current_revision().await?;
        store.inner.compact(revision).await?;
        tracing::info!(
            rewritten = sealed.rewritten,
            revision,
            "plaintext secrets encrypted; their old events compacted away"
        );
    }
    Ok((store, sealed))
}

async fn count_sealed(store: &dyn Store) -> Result<usize, StoreError> {
    let mut count = 0;
    for kind in ENCRYPTED_KINDS {
        let (items, _) = store.list(kind, None).await?;
        count += items.iter().filter(|s| is_sealed(&s.json)).count();
    }
    Ok(count)
}

/// Seals every plaintext object of the encrypted kinds, and opens every sealed one (a
/// wrong key fails here, at start-up, rather than on the first read).
pub async fn seal_existing(store: &EncryptedStore) -> Result<Sealed, EncryptionError> {
    let mut sealed = Sealed::default();
    for kind in ENCRYPTED_KINDS {
        let (items, _) = store.inner.list(kind, None).await?;
        for stored in items {
            if is_sealed(&stored.json) {
                store.unseal(stored)?;
                sealed.already += 1;
                continue;
            }
            let json = store.seal(&stored.key, stored.json.clone());
            match store
                .inner
                .update(stored.key.clone(), json, Some(stored.revision))
                .await
            {
                Ok(_) => sealed.rewritten += 1,
                // Deleted meanwhile: nothing left to seal.
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(sealed)
}
