//! Typed access to stored objects for the controllers: decode with the store's uid and
//! revision, encode without the revision, owner references, and the pod facts
//! (active, ready, available) ReplicaSets and Deployments count with.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::Metadata;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ControllerError;
use crate::store::{self, Modified, Stored, CAS_ATTEMPTS};
pub use crate::store::{decode, encode};

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

/// The revision an object was decoded at (its resourceVersion), for compare-and-swap.
pub fn revision_of(meta: &ObjectMeta) -> Option<i64> {
    meta.resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// The controller reference a workload puts on what it creates or adopts.
pub fn controller_ref(kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Drops the owner references to `uid`; true when one was there.
pub fn remove_owner(meta: &mut ObjectMeta, uid: &str) -> bool {
    let Some(refs) = meta.owner_references.as_mut() else {
        return false;
    };
    let before = refs.len();
    refs.retain(|r| r.uid != uid);
    let removed = refs.len() != before;
    if refs.is_empty() {
        meta.owner_references = None;
    }
    removed
}

pub fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

pub fn is_being_deleted(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Counted by its ReplicaSet: not finished and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && !is_being_deleted(&pod.metadata)
}

/// Since when the pod has been Ready, if it is (`None` when not ready). A Ready condition
/// without a transition time counts as ready since the epoch.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let condition = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(
        condition
            .last_transition_time
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0),
    )
}

pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Ready for at least `min_ready` at `now`. When ready but not yet long enough: how long
/// until it will be (so the caller can requeue then).
pub fn availability(pod: &Pod, min_ready: Duration, now: Timestamp) -> Availability {
    let Some(since) = ready_since(pod) else {
        return Availability::NotReady;
    };
    if min_ready.is_zero() {
        return Availability::Available;
    }
    let ready_for = Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO);
    if ready_for >= min_ready {
        Availability::Available
    } else {
        Availability::ReadyFor(min_ready - ready_for)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    NotReady,
    /// Ready, available after the remaining duration.
    ReadyFor(Duration),
    Available,
}

/// The object's creation time (the epoch when unknown).
pub fn created(meta: &ObjectMeta) -> Timestamp {
    meta.creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

/// Now, with whole seconds, as Kubernetes stores metadata times.
pub fn now_seconds() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// Five characters of Kubernetes' name alphabet (no vowels, no look-alikes): the suffix
/// of a generated pod name.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Read-modify-write of the object at `key` with compare-and-swap, pinned to `uid` (an
/// object recreated under the same name is left alone). `change` returns whether it
/// changed anything. Returns the object as written (or found), `None` when it is gone.
/// Contention is an error: the reconcile is retried with backoff.
pub async fn modify<T, F>(
    store: &dyn crate::store::Store,
    key: &crate::store::Key,
    uid: &str,
    mut change: F,
) -> Result<Option<T>, ControllerError>
where
    T: DeserializeOwned + Serialize + Metadata<Ty = ObjectMeta>,
    F: FnMut(&mut T) -> bool,
{
    let modified = store::modify(
        store,
        key,
        Some(uid),
        |object: &mut T| Ok(change(object)),
        || {
            ControllerError::Invalid(format!(
                "{key} kept changing under the controller; retrying later"
            ))
        },
    )
    .await?;
    Ok(match modified {
        Modified::Written(object) | Modified::Unchanged(object) => Some(object),
        Modified::Missing => None,
    })
}

/// Deletes the object if it is still the one with `uid`; a vanished object is fine.
pub async fn delete_if(
    store: &dyn crate::store::Store,
    key: &crate::store::Key,
    uid: &str,
) -> Result<bool, ControllerError> {
    use crate::store::StoreError;
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
    Err(ControllerError::Invalid(format!(
        "{key} kept changing while being deleted; retrying later"
    )))
}
