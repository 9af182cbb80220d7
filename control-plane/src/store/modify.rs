//! Read-modify-write with compare-and-swap: the one conflict-retry loop every layer above
//! runs ([`modify_stored`]), raw or typed ([`modify`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode, encode, DecodeError, Key, Store, StoreError, Stored};

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

/// What a change of [`modify_stored`] decided: keep the object as it is, or write these
/// bytes. Either way it hands back what the caller wants returned.
pub enum Edit<O> {
    Keep(O),
    Write(Vec<u8>, O),
}

/// The one read-modify-write loop with compare-and-swap: reads `key`, lets `change`
/// decide from the stored object, writes only if it asks to, on the revision it read,
/// and on a conflict starts over from a fresh read. `uid`, when given, pins the object:
/// one recreated under the same name is [`Modified::Missing`], not edited by mistake.
/// After [`CAS_ATTEMPTS`] conflicts it gives up with the error `contended` makes.
/// Returns the change's output with the revision it is at.
pub async fn modify_stored<O, E, F>(
    store: &dyn Store,
    key: &Key,
    uid: Option<&str>,
    mut change: F,
    contended: impl FnOnce() -> E,
) -> Result<Modified<(O, i64)>, E>
where
    E: From<StoreError>,
    F: FnMut(&Stored) -> Result<Edit<O>, E>,
{
    for _ in 0..CAS_ATTEMPTS {
        let Some(stored) = store.get(key).await? else {
            return Ok(Modified::Missing);
        };
        if uid.is_some_and(|uid| uid != stored.uid) {
            return Ok(Modified::Missing);
        }
        let (bytes, output) = match change(&stored)? {
            Edit::Keep(output) => return Ok(Modified::Unchanged((output, stored.revision))),
            Edit::Write(bytes, output) => (bytes, output),
        };
        match store
            .update(key.clone(), bytes, Some(stored.revision))
            .await
        {
            Ok(written) => return Ok(Modified::Written((output, written.revision))),
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => return Ok(Modified::Missing),
            Err(other) => return Err(other.into()),
        }
    }
    Err(contended())
}

/// [`modify_stored`] of a typed object: `change` edits it and says whether it changed
/// anything; the object returned carries its resourceVersion.
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
    let modified = modify_stored(
        store,
        key,
        uid,
        |stored| {
            let mut object: T = decode(stored)?;
            Ok(if change(&mut object)? {
                Edit::Write(encode(&object), object)
            } else {
                Edit::Keep(object)
            })
        },
        contended,
    )
    .await?;
    Ok(match modified {
        Modified::Written((mut object, revision)) => {
            object.metadata_mut().resource_version = Some(revision.to_string());
            Modified::Written(object)
        }
        Modified::Unchanged((object, _)) => Modified::Unchanged(object),
        Modified::Missing => Modified::Missing,
    })
}
