//! The namespace controller, as Kubernetes' namespace controller: a namespace marked for
//! deletion (`resources/namespaces.rs`) is kept `Terminating` while its content is
//! deleted through the finalizer-aware delete (`content.rs`); its conditions say what
//! remains and which finalizers hold it (`conditions.rs`); once nothing is left the
//! `kubernetes` finalizer leaves `spec.finalizers`, and the namespace goes with the last
//! finalizer of either list.
//!
//! Keyed by namespace. Triggers: the namespace's own events, and the deletion of any
//! object in a namespace (the last one held by a finalizer may be what it waits for).
//! While content remains it also looks again every [`RECHECK`].

mod conditions;
mod content;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, NamespaceStatus};
use tracing::info;

use super::runtime::{Action, Reconciler};
use super::ControllerContext;
use crate::core::objects::{decode, is_being_deleted};
use crate::core::{Error, Kind};
use crate::resources::finalizers;
use crate::resources::namespaces::KUBERNETES_FINALIZER;
use crate::store::{read_decide_write, Done, Event, EventType, Key, Step, Store, Stored};

pub use content::Remaining;

/// How often a namespace waiting for its content looks again, besides the deletions.
const RECHECK: Duration = Duration::from_secs(5);

pub struct NamespaceController {
    ctx: Arc<ControllerContext>,
}

impl NamespaceController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        NamespaceController { ctx }
    }
}

fn namespace_key(name: &str) -> Key {
    Key::new("Namespace", "", name)
}

impl Reconciler for NamespaceController {
    const NAME: &'static str = "namespace";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Namespace"]
    }

    fn watched(&self) -> Vec<&'static str> {
        let mut kinds = vec!["Namespace"];
        kinds.extend(Kind::namespaced_kinds().map(|k| k.name));
        kinds
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let key = &event.object.key;
        if key.kind == "Namespace" {
            return vec![key.clone()];
        }
        if event.kind == EventType::Deleted && !key.namespace.is_empty() {
            return vec![namespace_key(&key.namespace)];
        }
        Vec::new()
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let store = self.ctx.store.as_ref();
        let Some(stored) = store.get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let namespace: Namespace = decode(&stored)?;
        if !is_being_deleted(&namespace.metadata) {
            return Ok(Action::AwaitChange);
        }
        let clock = self.ctx.clock.as_ref();
        let remaining = content::delete_all(store, clock, &key.name).await?;
        if !remaining.is_empty() {
            self.report(&stored, &remaining).await?;
            return Ok(Action::Requeue(RECHECK));
        }
        self.finalize(&stored).await?;
        Ok(Action::AwaitChange)
    }
}

impl NamespaceController {
    /// Writes the phase and conditions `remaining` calls for, if they changed.
    async fn report(&self, stored: &Stored, remaining: &Remaining) -> Result<(), Error> {
        let now = self.ctx.clock.now_seconds();
        crate::core::objects::modify_if::<Namespace, _>(
            self.ctx.store.as_ref(),
            &stored.key,
            &stored.uid,
            |namespace| {
                let status = namespace
                    .status
                    .get_or_insert_with(NamespaceStatus::default);
                let mut changed = status.phase.as_deref() != Some("Terminating");
                status.phase = Some("Terminating".into());
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                changed |= conditions::update(conditions, remaining, now);
                changed
            },
        )
        .await?;
        Ok(())
    }

    /// Nothing is left: the conditions say so, the `kubernetes` finalizer goes, and the
    /// namespace with it unless other finalizers remain.
    async fn finalize(&self, stored: &Stored) -> Result<(), Error> {
        let store: &dyn Store = self.ctx.store.as_ref();
        let now = self.ctx.clock.now_seconds();
        let key = &stored.key;
        let uid = stored.uid.clone();
        let contended = || Error::Conflict(format!("{key} kept changing while it was finalized"));
        let done = read_decide_write(
            store,
            key,
            |current: Option<&Stored>| {
                let Some(current) = current.filter(|s| s.uid == uid) else {
                    return Ok(Step::Keep(()));
                };
                let original: Namespace = decode(current)?;
                let mut namespace = original.clone();
                let spec = namespace.spec.get_or_insert_with(Default::default);
                let list = spec.finalizers.get_or_insert_with(Vec::new);
                list.retain(|f| f != KUBERNETES_FINALIZER);
                if list.is_empty() {
                    spec.finalizers = None;
                }
                let status = namespace
                    .status
                    .get_or_insert_with(NamespaceStatus::default);
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                conditions::update(conditions, &Remaining::default(), now);
                let value = serde_json::to_value(&namespace).expect("serializes");
                if finalizers::finished("Namespace", &value) {
                    return Ok(Step::Delete(()));
                }
                if namespace == original {
                    return Ok(Step::Keep(()));
                }
                let bytes = crate::resources::objects::to_bytes(&value);
                Ok(Step::Update { bytes, then: () })
            },
            contended,
        )
        .await?;
        match done {
            Done::Deleted(..) => {
                info!(namespace = %key.name, "namespace deleted: its content is gone")
            }
            Done::Written(..) => {
                info!(namespace = %key.name, "namespace content gone; other finalizers remain")
            }
            Done::Kept(()) => {}
        }
        Ok(())
    }
}
