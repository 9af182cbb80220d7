//! Read-modify-write with compare-and-swap: the one conflict-retry loop every layer above
//! runs ([`read_decide_write`]): create, update or delete as the current value decides;
//! [`modify_stored`] and [`modify`] for an existing object, raw or typed.

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

/// What a decision of [`read_decide_write`] asks for, given the object as read.
pub enum Step<O> {
    /// Write nothing; return this.
    Keep(O),
    /// Create the (absent) object.
    Create {
        uid: String,
        bytes: Vec<u8>,
        then: O,
    },
    /// Replace the object read, on its revision.
    Update { bytes: Vec<u8>, then: O },
    /// Delete the object read, on its revision.
    Delete(O),
}

/// What [`read_decide_write`] did.
pub enum Done<O> {
    Kept(O),
    /// Created or updated: the object as stored.
    Written(O, Stored),
    /// Deleted: its last state, with the deletion's revision.
    Deleted(O, Stored),
}

/// The one conflict-retry loop of the control plane: reads `key`, lets `decide` choose
/// from what it found (`None`: absent) whether to create, update, delete or leave it,
/// and does that as a compare-and-swap on the revision read. When another writer got in
/// between (a conflict, a name taken, an object gone) it starts over from a fresh read;
/// after [`CAS_ATTEMPTS`] tries it gives up with the error `contended` makes.
pub async fn read_decide_write<O, E, F>(
    store: &dyn Store,
    key: &Key,
    mut decide: F,
    contended: impl FnOnce() -> E,
) -> Result<Done<O>, E>
where
    E: From<StoreError>,
    F: FnMut(Option<&Stored>) -> Result<Step<O>, E>,
{
    for _ in 0..CAS_ATTEMPTS {
        let current = store.get(key).await?;
        let revision = current.as_ref().map(|s| s.revision);
        let result = match decide(current.as_ref())? {
            Step::Keep(output) => return Ok(Done::Kept(output)),
            Step::Create { uid, bytes, then } => store
                .create(key.clone(), uid, bytes)
                .await
                .map(|written| Done::Written(then, written)),
            Step::Update { bytes, then } => store
                .update(key.clone(), bytes, revision)
                .await
                .map(|written| Done::Written(then, written)),
            Step::Delete(output) => store
                .delete(key, revision)
                .await
                .map(|last| Done::Deleted(output, last)),
        };
        match result {
            Ok(done) => return Ok(done),
            Err(
                StoreError::Conflict { .. }
                | StoreError::AlreadyExists(_)
                | StoreError::NotFound(_),
            ) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(contended())
}

/// Read-modify-write of an existing object ([`read_decide_write`]): `change` decides
/// from the stored object, and only a write it asks for happens. `uid`, when given, pins
/// the object: one recreated under the same name is [`Modified::Missing`], not edited by
/// mistake. Returns the change's output with the revision it is at.
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
    let done = read_decide_write(
        store,
        key,
        |current| {
            let Some(stored) = current.filter(|s| uid.is_none_or(|uid| uid == s.uid)) else {
                return Ok(Step::Keep(Modified::Missing));
            };
            Ok(match change(stored)? {
                Edit::Keep(output) => Step::Keep(Modified::Unchanged((output, stored.revision))),
                Edit::Write(bytes, output) => Step::Update {
                    bytes,
                    then: Modified::Written((output, stored.revision)),
                },
            })
        },
        contended,
    )
    .await?;
    Ok(match done {
        Done::Written(Modified::Written((output, _)), written) => {
            Modified::Written((output, written.revision))
        }
        Done::Kept(modified) | Done::Written(modified, _) | Done::Deleted(modified, _) => modified,
    })
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
