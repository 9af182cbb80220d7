//! Typed reads and read-modify-writes of stored objects, each write a compare-and-swap
//! on the revision read, retried from a fresh read on conflict ([`store::modify`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::ids::new_uid;
use crate::core::Error;
use crate::store::{self, decode, encode, Done, Key, Modified, Step, Store, Stored};

/// An object that kept changing under a read-modify-write: the caller retries later.
fn contended(key: &Key) -> Error {
    Error::Conflict(format!("{key} kept changing under us; giving up for now"))
}

/// A stored object decoded, or `None` (logged) when it does not decode: one corrupt
/// object must not stop a controller from managing the others.
pub fn decode_or_skip<T>(stored: &Stored) -> Option<T>
where
    T: DeserializeOwned + Metadata<Ty = ObjectMeta>,
{
    decode(stored)
        .inspect_err(|error| {
            tracing::warn!(object = %stored.key, %error, "skipping an object that does not decode")
        })
        .ok()
}

/// Decodes every stored object, skipping (and logging) the ones that do not decode.
pub fn decode_all<T>(stored: &[Stored]) -> Vec<T>
where
    T: DeserializeOwned + Metadata<Ty = ObjectMeta>,
{
    stored.iter().filter_map(decode_or_skip).collect()
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
    let done = store::read_decide_write(
        store,
        key,
        |current| {
            let Some(stored) = current else {
                let mut object = initial();
                change(&mut object)?;
                let uid = object.metadata().uid.clone().unwrap_or_else(new_uid);
                object.metadata_mut().uid = Some(uid.clone());
                let bytes = encode(&object);
                return Ok(Step::Create {
                    uid,
                    bytes,
                    then: object,
                });
            };
            let mut object: T = decode(stored)?;
            Ok(if change(&mut object)? {
                Step::Update {
                    bytes: encode(&object),
                    then: object,
                }
            } else {
                Step::Keep(object)
            })
        },
        || contended(key),
    )
    .await?;
    Ok(match done {
        Done::Written(mut object, written) => {
            object.metadata_mut().resource_version = Some(written.revision.to_string());
            object
        }
        Done::Kept(object) | Done::Deleted(object, _) => object,
    })
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

/// Writes `status` as the object's status (the field `status_of` picks) when it differs
/// from the stored one; an object gone or replaced (another uid) is left alone.
pub async fn write_status<T, S>(
    store: &dyn Store,
    key: &Key,
    uid: &str,
    status: S,
    status_of: fn(&mut T) -> &mut Option<S>,
) -> Result<(), Error>
where
    T: DeserializeOwned + Serialize + Metadata<Ty = ObjectMeta>,
    S: PartialEq + Clone,
{
    modify_if::<T, _>(store, key, uid, |current| {
        let field = status_of(current);
        if field.as_ref() == Some(&status) {
            return false;
        }
        *field = Some(status.clone());
        true
    })
    .await?;
    Ok(())
}
