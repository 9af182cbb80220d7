//! The ReplicaSet controller: keeps `spec.replicas` active pods that match the selector.
//!
//! One reconcile, from a fresh read of the ReplicaSet and the pods of its namespace:
//! 1. claim pods (`claim.rs`): its own (controller reference with its uid) that still
//!    match the selector; orphans that match are adopted; its own that no longer match
//!    are released (the reference removed);
//! 2. create the missing pods (`<rs>-<5 random chars>`) or delete the surplus in
//!    Kubernetes' order (`rank.rs`): unscheduled, pending, not ready, ready; newest first;
//! 3. write the status (replicas, fullyLabeled, ready, available, observedGeneration).
//!
//! Pods that failed or succeeded are not counted, so they are replaced. The store read
//! is consistent, so no "expectations" bookkeeping is needed: every creation and deletion
//! is visible to the next reconcile.

pub(crate) mod claim;
mod rank;
mod status;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use tracing::info;

use super::runtime::{all_in_namespace, owner_key, unique, Action, Reconciler};
use super::{owned_pods, ControllerContext};
use crate::core::events;
use crate::core::objects::{decode, decode_all, is_active, is_being_deleted};
use crate::core::Error;
use crate::store::{Event, Key, Store};

/// Pods created or deleted by one reconcile at most; the next reconcile does the rest.
const BURST: usize = 500;

pub struct ReplicaSetController {
    ctx: Arc<ControllerContext>,
}

impl ReplicaSetController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        ReplicaSetController { ctx }
    }

    fn store(&self) -> &dyn Store {
        self.ctx.store.as_ref()
    }
}

impl Reconciler for ReplicaSetController {
    const NAME: &'static str = "replicaset";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["ReplicaSet"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["ReplicaSet", "Pod"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let key = &event.object.key;
        if key.kind == "ReplicaSet" {
            return vec![key.clone()];
        }
        match owner_key(event, "ReplicaSet") {
            Some(owner) => vec![owner],
            // A pod with no controller may be adopted by any ReplicaSet of its namespace;
            // one owned by another kind is not ours.
            None if !has_controller(event) => {
                unique(all_in_namespace(self.store(), "ReplicaSet", &key.namespace).await)
            }
            None => Vec::new(),
        }
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let Some(stored) = self.store().get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let rs: ReplicaSet = decode(&stored)?;
        let (pods, _) = self.store().list("Pod", Some(&key.namespace)).await?;
        let pods: Vec<Pod> = decode_all(&pods);
        let selector = rs.spec.as_ref().map(|s| s.selector.clone());
        let selector = selector.unwrap_or_default();
        let owned =
            claim::claim_pods(self.store(), "ReplicaSet", &rs.metadata, &selector, pods).await?;
        let active: Vec<&Pod> = owned.iter().filter(|p| is_active(p)).collect();
        let wanted = rs
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0) as usize;
        if active.len() < wanted && !is_being_deleted(&rs.metadata) {
            let missing = (wanted - active.len()).min(BURST);
            for _ in 0..missing {
                let name = self.create_pod(&rs).await?;
                self.event(&rs, "SuccessfulCreate", &format!("Created pod: {name}"))
                    .await;
            }
            info!(replicaset = %key, created = missing, "pods created");
        } else if active.len() > wanted {
            let surplus = (active.len() - wanted).min(BURST);
            let doomed = rank::to_delete(&active, surplus);
            for pod in &doomed {
                let pod_key = Key::new(
                    "Pod",
                    &key.namespace,
                    pod.metadata.name.clone().unwrap_or_default(),
                );
                let uid = pod.metadata.uid.as_deref().unwrap_or_default();
                if super::deleted(self.ctx.as_ref(), &pod_key, uid).await? {
                    let message = format!("Deleted pod: {}", pod_key.name);
                    self.event(&rs, "SuccessfulDelete", &message).await;
                }
            }
            info!(replicaset = %key, deleted = doomed.len(), "pods deleted");
        }
        status::write(self.store(), &rs, &owned, self.ctx.clock.now()).await
    }
}

pub(crate) fn has_controller(event: &Event) -> bool {
    serde_json::from_slice::<serde_json::Value>(&event.object.json)
        .ok()
        .and_then(|v| {
            v.pointer("/metadata/ownerReferences")?
                .as_array()
                .map(|refs| refs.iter().any(|r| r["controller"] == true))
        })
        .unwrap_or(false)
}

impl ReplicaSetController {
    /// A Normal event on the ReplicaSet, for `describe rs`.
    async fn event(&self, rs: &ReplicaSet, reason: &str, message: &str) {
        let involved = events::reference_to("ReplicaSet", &rs.metadata);
        events::record_or_warn(
            self.ctx.as_ref(),
            involved,
            "Normal",
            reason,
            message,
            events::REPLICASET_CONTROLLER,
        )
        .await;
    }

    /// Creates one pod from the template, owned by the ReplicaSet; its name.
    async fn create_pod(&self, rs: &ReplicaSet) -> Result<String, Error> {
        let template = rs
            .spec
            .as_ref()
            .and_then(|s| s.template.clone())
            .unwrap_or_default();
        owned_pods::create(
            self.store(),
            self.ctx.clock.now_seconds(),
            "ReplicaSet",
            &rs.metadata,
            template,
        )
        .await
    }
}
