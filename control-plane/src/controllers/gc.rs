//! Garbage collection through ownerReferences, as Kubernetes' garbage collector does it
//! for the Background policy: an object whose owners are all gone is deleted; one that
//! still has a live owner loses only its references to the gone ones. Deleting a
//! Deployment therefore takes its ReplicaSets, and their deletion takes their pods.
//!
//! The Orphan policy (`delete --cascade=orphan`) is `resources::owners::orphan_dependents`,
//! run by the delete verb before the owner goes: the owner is marked as being deleted (its
//! controller stops adopting and creating), then its dependents lose their references to
//! it, so nothing is left for the collector.
//!
//! Keys reconciled are the dependents. Triggers: an owner's deletion (its dependents in
//! the namespace), and a dependent's creation (an owner deleted while it was being
//! created leaves no deletion event to react to afterwards).

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use tracing::info;

use super::runtime::{unique, Action, Reconciler};
use super::ControllerContext;
use crate::core::{Error, Kind};
use crate::resources::owners::{dependents_of, owner_refs, strip, DEPENDENT_KINDS, OWNER_KINDS};
use crate::store::{Event, EventType, Key, Store, StoreError};

pub struct GarbageCollector {
    ctx: Arc<ControllerContext>,
}

impl GarbageCollector {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        GarbageCollector { ctx }
    }
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

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
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
            if key.kind == "PersistentVolumeClaim" {
                // Claims go through their protection finalizer: marked while a pod uses
                // them, removed by the volume controller after.
                let clock = self.ctx.clock.as_ref();
                let (ns, name) = (&key.namespace, &key.name);
                match crate::resources::delete(store, clock, &key.kind, ns, name, "").await {
                    Ok(_) => info!(object = %key, "deleted: its owners are gone"),
                    Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
                return Ok(Action::AwaitChange);
            }
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
) -> Result<bool, Error> {
    let Ok(kind) = Kind::resolve(&owner.kind) else {
        return Ok(true);
    };
    let key = kind.key(namespace, &owner.name);
    Ok(store.get(&key).await?.is_some_and(|s| s.uid == owner.uid))
}
