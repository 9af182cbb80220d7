//! Typed reads and read-modify-writes of stored objects, each write a compare-and-swap
//! on the revision read, retried from a fresh read on conflict ([`store::modify`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::ids::new_uid;
use crate::core::Error;
use crate::store::{self, decode, encode, Key, Modified, Store, StoreError, Stored, CAS_ATTEMPTS};

/// An object that kept changing under a read-modify-write: the caller retries later.
fn contended(key: &Key) -> Error {
    Error::Conflict(format!("{key} kept changing under us; giving up for now"))
}

/// Decodes every stored object, skipping (and logging) the ones that do not decode: one
/// corrupt object must not stop a controller from managing the others.
pub fn decode_all<T>(stored: &[Stored]) -> Vec<T>
where
    T: DeserializeOwned + Metadata<Ty = ObjectMeta>,
{
    stored
        .iter()
        .filter_map(|s| match decode(s) {
            Ok(object) => Some(object),
            Err(error) => {
                tracing::warn!(object = %s.key, %error, "skipping an object that does not decode");
                None
            }
        })
        .collect()
}

/// Read-modify-write with compare-and-swap ([`store::modify`]); an object that keeps
/// changing under us is a [`Error::Conflict`].
pub async fn modify<T, F>(
    store: &dyn Store,
    key: &Key,
    uid: Option<&str>,
    change: F,
) -> Result<Modified<T>, Error>
where
    T: DeserializeOwned + Serialize + Metadata<Ty = ObjectMeta>,
    F: FnMut(&mut T) -> Result<bool, Error>,
{
    store::modify(store, key, uid, change, || contended(key)).await
}

/// [`modify`], or when the object does not exist, create it as `initial` returns it
/// (with `change` applied too). Returns the object as written or found.
pub async fn modify_or_create<T, I, F>(
    store: &dyn Store,
    key: &Key,
    initial: I,
    mut change: F,
) -> Result<T, Error>
where
    T: DeserializeOwned + Serialize + Metadata<Ty = ObjectMeta>,
    I: Fn() -> T,
    F: FnMut(&mut T) -> Result<bool, Error>,
{
    for _ in 0..CAS_ATTEMPTS {
        match modify(store, key, None, &mut change).await? {
            Modified::Written(object) | Modified::Unchanged(object) => return Ok(object),
            Modified::Missing => {}
        }
        let mut object = initial();
        change(&mut object)?;
        let uid = object.metadata().uid.clone().unwrap_or_else(new_uid);
        object.metadata_mut().uid = Some(uid.clone());
        match store.create(key.clone(), uid, encode(&object)).await {
            Ok(written) => {
                object.metadata_mut().resource_version = Some(written.revision.to_string());
                return Ok(object);
            }
            Err(StoreError::AlreadyExists(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(contended(key))
}

/// Read-modify-write of the object at `key` with compare-and-swap, pinned to `uid` (an
/// object recreated under the same name is left alone). `change` returns whether it
/// changed anything. Returns the object as written (or found), `None` when it is gone.
/// Contention is an error: the reconcile is retried with backoff.
pub async fn modify_if<T, F>(
    store: &dyn Store,
    key: &Key,
    uid: &str,
    mut change: F,
) -> Result<Option<T>, Error>
where
    T: DeserializeOwned + Serialize + Metadata<Ty = ObjectMeta>,
    F: FnMut(&mut T) -> bool,
{
    let modified = store::modify(
        store,
        key,
        Some(uid),
        |object: &mut T| Ok(change(object)),
        || contended(key),
    )
    .await?;
    Ok(match modified {
        Modified::Written(object) | Modified::Unchanged(object) => Some(object),
        Modified::Missing => None,
    })
}

/// Deletes the object if it is still the one with `uid`; a vanished object is fine.
pub async fn delete_if(store: &dyn Store, key: &Key, uid: &str) -> Result<bool, Error> {
    use StoreError;
    for _ in 0..CAS_ATTEMPTS {
        let Some(stored) = store.get(key).await? else {
            return Ok(false);
        };
        if stored.uid != uid {
            return Ok(false);
        }
        match store.delete(key, Some(stored.revision)).await {
            Ok(_) => return Ok(true),
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => return Ok(false),
            Err(other) => return Err(other.into()),
        }
    }
    Err(contended(key))
}
