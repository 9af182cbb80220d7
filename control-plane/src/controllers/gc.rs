//! Garbage collection through ownerReferences, as Kubernetes' garbage collector does it
//! for the Background policy: an object whose owners are all gone is deleted; one that
//! still has a live owner loses only its references to the gone ones. Deleting a
//! Deployment therefore takes its ReplicaSets, and their deletion takes their pods.
//!
//! The Orphan policy (`delete --cascade=orphan`) is [`orphan_dependents`], run by the
//! API's delete before the owner goes: the owner is marked as being deleted (its
//! controller stops adopting and creating), then its dependents lose their references to
//! it, so nothing is left for the collector.
//!
//! Keys reconciled are the dependents. Triggers: an owner's deletion (its dependents in
//! the namespace), and a dependent's creation (an owner deleted while it was being
//! created leaves no deletion event to react to afterwards).

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;
use tracing::info;

use super::error::ControllerError;
use super::runtime::{unique, Action, Reconciler};
use super::ControllerContext;
use crate::api::Kind;
use crate::store::{Event, EventType, Key, Store, StoreError, Stored};

/// Kinds that have owners (what the workload controllers create).
const DEPENDENT_KINDS: &[&str] = &["Pod", "ReplicaSet", "Job"];
/// Kinds whose deletion can leave dependents behind.
const OWNER_KINDS: &[&str] = &[
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
];

pub struct GarbageCollector {
    ctx: Arc<ControllerContext>,
}

impl GarbageCollector {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        GarbageCollector { ctx }
    }
}

fn owner_refs(json: &[u8]) -> Vec<OwnerReference> {
    serde_json::from_slice::<Value>(json)
        .map(|v| owner_refs_of(&v))
        .unwrap_or_default()
}

fn owner_refs_of(value: &Value) -> Vec<OwnerReference> {
    value
        .pointer("/metadata/ownerReferences")
        .and_then(|refs| serde_json::from_value(refs.clone()).ok())
        .unwrap_or_default()
}

impl Reconciler for GarbageCollector {
    const NAME: &'static str = "garbage-collector";

    fn kinds(&self) -> Vec<&'static str> {
        DEPENDENT_KINDS.to_vec()
    }

    fn watched(&self) -> Vec<&'static str> {
        let mut kinds = DEPENDENT_KINDS.to_vec();
        kinds.extend(OWNER_KINDS.iter().filter(|k| !DEPENDENT_KINDS.contains(k)));
        kinds
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let key = &event.object.key;
        let mut keys = Vec::new();
        if event.kind == EventType::Added
            && DEPENDENT_KINDS.contains(&key.kind.as_str())
            && !owner_refs(&event.object.json).is_empty()
        {
            keys.push(key.clone());
        }
        if event.kind == EventType::Deleted && OWNER_KINDS.contains(&key.kind.as_str()) {
            let dependents =
                dependents_of(self.ctx.store.as_ref(), &key.namespace, &event.object.uid).await;
            keys.extend(dependents.into_iter().map(|s| s.key));
        }
        unique(keys)
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, ControllerError> {
        let store = self.ctx.store.as_ref();
        let Some(stored) = store.get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let refs = owner_refs(&stored.json);
        if refs.is_empty() {
            return Ok(Action::AwaitChange);
        }
        let mut gone = Vec::new();
        for owner in &refs {
            if !owner_exists(store, &key.namespace, owner).await? {
                gone.push(owner.uid.clone());
            }
        }
        if gone.is_empty() {
            return Ok(Action::AwaitChange);
        }
        if gone.len() == refs.len() {
            match store.delete(key, Some(stored.revision)).await {
                Ok(_) => info!(object = %key, "deleted: its owners are gone"),
                // Changed meanwhile: look again with the new state.
                Err(StoreError::Conflict { .. }) => {
                    return Ok(Action::Requeue(std::time::Duration::ZERO))
                }
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(Action::AwaitChange);
        }
        strip(store, &stored, |r| gone.contains(&r.uid)).await?;
        Ok(Action::AwaitChange)
    }
}

/// Whether the owner a reference names still exists (same uid). An owner of a kind the
/// store does not know is assumed alive: never delete what cannot be checked.
async fn owner_exists(
    store: &dyn Store,
    namespace: &str,
    owner: &OwnerReference,
) -> Result<bool, ControllerError> {
    let Ok(kind) = Kind::resolve(&owner.kind) else {
        return Ok(true);
    };
    let key = kind.key(namespace, &owner.name);
    Ok(store.get(&key).await?.is_some_and(|s| s.uid == owner.uid))
}

/// The objects in `namespace` with an owner reference to `uid`.
async fn dependents_of(store: &dyn Store, namespace: &str, uid: &str) -> Vec<Stored> {
    let mut found = Vec::new();
    for kind in DEPENDENT_KINDS {
        if let Ok((items, _)) = store.list(kind, Some(namespace)).await {
            found.extend(
                items
                    .into_iter()
                    .filter(|s| owner_refs(&s.json).iter().any(|r| r.uid == uid)),
            );
        }
    }
    found
}

/// Removes the owner references `drop` picks from the stored object.
async fn strip(
    store: &dyn Store,
    stored: &Stored,
    drop: impl Fn(&OwnerReference) -> bool,
) -> Result<(), ControllerError> {
    edit_json(store, stored, "its owner references were edited", |value| {
        let refs = owner_refs_of(value);
        let kept: Vec<&OwnerReference> = refs.iter().filter(|r| !drop(r)).collect();
        if kept.len() == refs.len() {
            return false;
        }
        let meta = crate::api::metadata_mut(value);
        if kept.is_empty() {
            meta.remove("ownerReferences");
        } else {
            meta.insert(
                "ownerReferences".into(),
                serde_json::to_value(&kept).expect("serializes"),
            );
        }
        true
    })
    .await
}

/// The Orphan policy: marks the owner as being deleted (so its controller stops adopting
/// and creating), then removes every reference to it from its dependents. The caller
/// deletes the owner afterwards.
pub async fn orphan_dependents(
    store: &dyn Store,
    owner: &Stored,
) -> Result<usize, ControllerError> {
    mark_deleting(store, owner).await?;
    let dependents = dependents_of(store, &owner.key.namespace, &owner.uid).await;
    for dependent in &dependents {
        strip(store, dependent, |r| r.uid == owner.uid).await?;
    }
    info!(owner = %owner.key, dependents = dependents.len(), "dependents orphaned");
    Ok(dependents.len())
}

/// Sets `metadata.deletionTimestamp` on the owner, unless already set.
async fn mark_deleting(store: &dyn Store, owner: &Stored) -> Result<(), ControllerError> {
    edit_json(store, owner, "being marked for deletion", |value| {
        let meta: ObjectMeta =
            serde_json::from_value(value["metadata"].clone()).unwrap_or_default();
        if meta.deletion_timestamp.is_some() {
            return false;
        }
        crate::api::metadata_mut(value)
            .insert("deletionTimestamp".into(), Value::String(crate::api::now()));
        true
    })
    .await
}

/// Read-modify-write of a stored object's JSON with compare-and-swap on the revision read:
/// `edit` changes the value and says whether it changed anything. A conflict is retried
/// from a fresh read; an object that is gone or was replaced (another uid) is left alone.
/// `doing` ends the error when the object keeps changing.
async fn edit_json(
    store: &dyn Store,
    stored: &Stored,
    doing: &str,
    mut edit: impl FnMut(&mut Value) -> bool,
) -> Result<(), ControllerError> {
    let mut current = stored.clone();
    for _ in 0..5 {
        let mut value: Value = current.parse()?;
        if !edit(&mut value) {
            return Ok(());
        }
        let json = serde_json::to_vec(&value).expect("serializes");
        match store
            .update(current.key.clone(), json, Some(current.revision))
            .await
        {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => match store.get(&current.key).await? {
                Some(fresh) if fresh.uid == current.uid => current = fresh,
                _ => return Ok(()),
            },
            Err(StoreError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ControllerError::Invalid(format!(
        "{} kept changing while {doing}",
        current.key
    )))
}
