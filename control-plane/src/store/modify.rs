//! Read-modify-write of a typed object with compare-and-swap, the loop the controllers
//! and the node parts both run; each wraps it with its own error type.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode, encode, DecodeError, Key, Store, StoreError};

/// Compare-and-swap attempts before a read-modify-write gives up.
pub const CAS_ATTEMPTS: usize = 5;

/// The result of [`modify`].
pub enum Modified<T> {
    /// Written; the object carries its new resourceVersion.
    Written(T),
    /// The change function found nothing to do.
    Unchanged(T),
    /// The object is gone (or was replaced by another with the same name).
    Missing,
}

/// Reads `key`, lets `change` edit it (returning whether it changed anything), writes it
/// only if so, on the revision it read, and on a conflict starts over from a fresh read.
/// `uid`, when given, pins the object: one recreated under the same name is
/// [`Modified::Missing`], not edited by mistake. After [`CAS_ATTEMPTS`] conflicts it
/// gives up with the error `contended` makes.
pub async fn modify<T, E, F>(
    store: &dyn Store,
    key: &Key,
    uid: Option<&str>,
    mut change: F,
    contended: impl FnOnce() -> E,
) -> Result<Modified<T>, E>
where
    T: DeserializeOwned + Serialize + Metadata<Ty = ObjectMeta>,
    E: From<StoreError> + From<DecodeError>,
    F: FnMut(&mut T) -> Result<bool, E>,
{
    for _ in 0..CAS_ATTEMPTS {
        let Some(stored) = store.get(key).await? else {
            return Ok(Modified::Missing);
        };
        if uid.is_some_and(|uid| uid != stored.uid) {
            return Ok(Modified::Missing);
        }
        let mut object: T = decode(&stored)?;
        if !change(&mut object)? {
            return Ok(Modified::Unchanged(object));
        }
        match store
            .update(key.clone(), encode(&object), Some(stored.revision))
            .await
        {
            Ok(written) => {
                object.metadata_mut().resource_version = Some(written.revision.to_string());
                return Ok(Modified::Written(object));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => return Ok(Modified::Missing),
            Err(other) => return Err(other.into()),
        }
    }
    Err(contended())
}
