//! Garbage collection through ownerReferences, as Kubernetes' garbage collector does it.
//!
//! Background (the default policy): an object whose owners are all gone is deleted; one
//! that still has a live owner loses only its references to the gone ones. Deleting a
//! Deployment therefore takes its ReplicaSets, and their deletion takes their pods.
//!
//! Foreground: the delete verb marks the owner and gives it the `foregroundDeletion`
//! finalizer (`resources/delete.rs`). Its dependents are then deleted as if it were gone
//! (a dependent that owns objects itself in Foreground too, so the chain unwinds from
//! the bottom), and once no dependent with `blockOwnerDeletion: true` is left the
//! finalizer goes, and with it the owner (`resources/finalizers.rs`).
//!
//! Orphan (`delete --cascade=orphan`): the delete verb marks the owner with the `orphan`
//! finalizer (its controller, seeing it marked, stops adopting and creating); the
//! collector removes the references to it from its dependents
//! (`resources::owners::orphan_dependents`), then the finalizer, and with it the owner.
//! Its dependents count it as a live owner meanwhile, so none is collected.
//!
//! Keys reconciled are dependents and owners. Triggers: an owner's deletion (its
//! dependents), an owner marked for Foreground or Orphan deletion (itself), a
//! dependent's deletion (its owners, which may be waiting for it), and a dependent's
//! creation (an owner deleted while it was being created leaves no deletion event to
//! react to afterwards).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::Value;
use tracing::info;

use super::runtime::{unique, Action, Reconciler};
use super::ControllerContext;
use crate::core::{Error, Kind};
use crate::resources::finalizers::{self, Pinned, FOREGROUND, ORPHAN};
use crate::resources::owners::{
    dependents_of, orphan_dependents, owner_refs, strip, DEPENDENT_KINDS, OWNER_KINDS,
};
use crate::store::{Event, EventType, Key, Store, Stored};

/// How often an owner waiting for its dependents looks again, besides the dependents'
/// deletion events.
const WAITING_RECHECK: Duration = Duration::from_secs(1);

pub struct GarbageCollector {
    ctx: Arc<ControllerContext>,
}

impl GarbageCollector {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        GarbageCollector { ctx }
    }
}

/// What a dependent's owner reference finds.
#[derive(Debug, PartialEq, Eq)]
enum OwnerState {
    /// The owner exists and is not waiting for its dependents.
    Solid,
    /// Gone (or replaced by another object with the same name).
    Gone,
    /// Being deleted in the Foreground: its dependents are to go first.
    Waiting,
}

/// Whether the object is marked and holds the Foreground finalizer.
fn waits_for_dependents(value: &Value) -> bool {
    marked_with(value, FOREGROUND)
}

fn marked_with(value: &Value, finalizer: &str) -> bool {
    finalizers::is_deleting(value) && finalizers::of(value).iter().any(|f| f == finalizer)
}

fn all_kinds() -> Vec<&'static str> {
    let mut kinds = DEPENDENT_KINDS.to_vec();
    kinds.extend(OWNER_KINDS.iter().filter(|k| !DEPENDENT_KINDS.contains(k)));
    kinds
}

impl Reconciler for GarbageCollector {
    const NAME: &'static str = "garbage-collector";

    fn kinds(&self) -> Vec<&'static str> {
        all_kinds()
    }

    fn watched(&self) -> Vec<&'static str> {
        all_kinds()
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let object = &event.object;
        let key = &object.key;
        let refs = owner_refs(&object.json);
        let owner_kind = OWNER_KINDS.contains(&key.kind.as_str());
        let mut keys = Vec::new();
        match event.kind {
            EventType::Added if !refs.is_empty() => keys.push(key.clone()),
            EventType::Deleted => {
                if owner_kind {
                    let store = self.ctx.store.as_ref();
                    let dependents = dependents_of(store, &key.namespace, &object.uid).await;
                    keys.extend(dependents.into_iter().map(|s| s.key));
                }
                keys.extend(refs.iter().filter_map(|r| owner_key(&key.namespace, r)));
            }
            _ => {}
        }
        if event.kind != EventType::Deleted && owner_kind {
            let value: Value = serde_json::from_slice(&object.json).unwrap_or(Value::Null);
            if waits_for_dependents(&value) || marked_with(&value, ORPHAN) {
                keys.push(key.clone());
            }
        }
        unique(keys)
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let store = self.ctx.store.as_ref();
        let Some(stored) = store.get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let value = crate::resources::objects::parse(&stored)?;
        if waits_for_dependents(&value) {
            return self.delete_dependents_first(&stored).await;
        }
        if marked_with(&value, ORPHAN) {
            return self.orphan(&stored).await;
        }
        self.collect(&stored).await
    }
}

impl GarbageCollector {
    /// A dependent: deleted when none of its owners is left solid, else stripped of its
    /// references to the gone and waiting ones.
    async fn collect(&self, stored: &Stored) -> Result<Action, Error> {
        let store = self.ctx.store.as_ref();
        let key = &stored.key;
        let refs = owner_refs(&stored.json);
        if refs.is_empty() {
            return Ok(Action::AwaitChange);
        }
        let mut states = Vec::with_capacity(refs.len());
        for owner in &refs {
            states.push(owner_state(store, &key.namespace, owner).await?);
        }
        if states.iter().all(|s| *s == OwnerState::Solid) {
            return Ok(Action::AwaitChange);
        }
        if states.contains(&OwnerState::Solid) {
            let dropped: Vec<&str> = refs
                .iter()
                .zip(&states)
                .filter(|(_, s)| **s != OwnerState::Solid)
                .map(|(r, _)| r.uid.as_str())
                .collect();
            strip(store, stored, |r| dropped.contains(&r.uid.as_str())).await?;
            return Ok(Action::AwaitChange);
        }
        let foreground = states.contains(&OwnerState::Waiting)
            && OWNER_KINDS.contains(&key.kind.as_str())
            && !dependents_of(store, &key.namespace, &stored.uid)
                .await
                .is_empty();
        let clock = self.ctx.clock.as_ref();
        let extra = foreground.then_some(FOREGROUND);
        let pinned = Pinned {
            uid: Some(&stored.uid),
            revision: Some(stored.revision),
        };
        match finalizers::delete(store, clock, key, extra, pinned).await {
            Ok(deleted) if deleted.acted() => {
                info!(object = %key, foreground, "deleted: its owners are gone")
            }
            Ok(_) => {}
            Err(Error::NotFound(_)) => {}
            // Changed meanwhile: look again with the new state.
            Err(Error::Conflict(_)) => return Ok(Action::Requeue(Duration::ZERO)),
            Err(e) => return Err(e),
        }
        Ok(Action::AwaitChange)
    }

    /// An owner in Orphan deletion: its dependents lose their references to it, then it
    /// loses its finalizer (and goes, if that was the last one).
    async fn orphan(&self, owner: &Stored) -> Result<Action, Error> {
        let store = self.ctx.store.as_ref();
        let dependents = orphan_dependents(store, owner).await?;
        if finalizers::remove(store, &owner.key, &owner.uid, ORPHAN).await? {
            info!(object = %owner.key, dependents, "dependents orphaned");
        }
        Ok(Action::AwaitChange)
    }

    /// An owner in Foreground deletion: its dependents are collected, and once none that
    /// blocks it is left its finalizer goes (and it with it).
    async fn delete_dependents_first(&self, owner: &Stored) -> Result<Action, Error> {
        let store = self.ctx.store.as_ref();
        let (namespace, uid) = (&owner.key.namespace, &owner.uid);
        for dependent in dependents_of(store, namespace, uid).await {
            self.collect(&dependent).await?;
        }
        let blocking = dependents_of(store, namespace, uid)
            .await
            .iter()
            .filter(|d| {
                owner_refs(&d.json)
                    .iter()
                    .any(|r| r.uid == *uid && r.block_owner_deletion == Some(true))
            })
            .count();
        if blocking > 0 {
            return Ok(Action::Requeue(WAITING_RECHECK));
        }
        if finalizers::remove(store, &owner.key, uid, FOREGROUND).await? {
            info!(object = %owner.key, "dependents gone: foreground deletion finished");
        }
        Ok(Action::AwaitChange)
    }
}

/// The store key of the owner a reference names (`None` for a kind the store does not
/// know).
fn owner_key(namespace: &str, owner: &OwnerReference) -> Option<Key> {
    let kind = Kind::resolve(&owner.kind).ok()?;
    Some(kind.key(namespace, &owner.name))
}

/// What the owner a reference names is. An owner of a kind the store does not know is
/// assumed solid: never delete what cannot be checked.
async fn owner_state(
    store: &dyn Store,
    namespace: &str,
    owner: &OwnerReference,
) -> Result<OwnerState, Error> {
    let Some(key) = owner_key(namespace, owner) else {
        return Ok(OwnerState::Solid);
    };
    let Some(stored) = store.get(&key).await?.filter(|s| s.uid == owner.uid) else {
        return Ok(OwnerState::Gone);
    };
    let value: Value = serde_json::from_slice(&stored.json).unwrap_or(Value::Null);
    Ok(if waits_for_dependents(&value) {
        OwnerState::Waiting
    } else {
        OwnerState::Solid
    })
}
