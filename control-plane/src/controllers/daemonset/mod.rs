//! The DaemonSet controller: one pod on every node that should run one.
//!
//! One reconcile, from a fresh read of the DaemonSet, every node and the pods it controls
//! (its uid in their controller reference; orphans its selector matches are adopted and
//! its own that stop matching released, as the ReplicaSet's `claim.rs` does):
//! 1. per node, whether it should run a daemon pod and whether one there may stay
//!    (`placement.rs`: nodeSelector, required node affinity, taints against the template's
//!    tolerations plus the ones every daemon pod gets); pods of nodes that no longer exist
//!    count as misscheduled and are deleted at once (the node lifecycle controller would
//!    only sweep them after `--node-grace`);
//! 2. `manage` (`plan.rs`): a pod created for every node that should run one and has
//!    none, failed pods deleted (event FailedDaemonPod) and replaced, pods deleted from
//!    nodes that must not keep them and extra pods deleted; a node whose daemon pods keep
//!    failing waits out a growing delay between replacements (`backoff.rs`);
//! 3. when `manage` had nothing to do and the strategy is RollingUpdate: old-template pods
//!    replaced at most `maxUnavailable` nodes at a time, or with `maxSurge` the new pod
//!    started first and the old one deleted once the new one is available
//!    (`minReadySeconds`); with OnDelete pods are replaced only when the user deletes them;
//! 4. the status (`status.rs`), and a requeue when a ready pod becomes available.
//!
//! Daemon pods are named `<ds>-<5 random>` and carry `controller-revision-hash` (a hash
//! of the template: what makes a pod old) and `pod-template-generation`. The scheduler
//! binds them through their `matchFields metadata.name` affinity.
//!
//! Not done yet: ControllerRevisions (so no `rollout history|undo` for DaemonSets).

mod backoff;
mod placement;
mod plan;
mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tracing::info;

use super::deployment::rolling::scaled_value;
use super::replicaset::claim::claim_pods;
use super::replicaset::has_controller;
use super::runtime::{all_in_namespace, self_or_owner, Action, Reconciler};
use super::{deleted, owned_pods, ControllerContext};
use crate::core::objects::template_hash::template_hash;
use crate::core::objects::{
    availability, decode, decode_all, is_being_deleted, pod_is_terminal, Availability,
};
use crate::core::Error;
use crate::store::{Event, Key, Store};
use backoff::FailedPodsBackoff;
use placement::{node_of, placement, template_for_node, Placement};
use plan::{Moment, NodePods, Plan, Why};

pub use placement::{GENERATION_LABEL, HASH_LABEL};

const COMPONENT: &str = "daemonset-controller";

pub struct DaemonSetController {
    ctx: Arc<ControllerContext>,
    failed_pods: FailedPodsBackoff,
}

impl DaemonSetController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        DaemonSetController {
            ctx,
            failed_pods: FailedPodsBackoff::default(),
        }
    }

    fn store(&self) -> &dyn Store {
        self.ctx.store.as_ref()
    }
}

impl Reconciler for DaemonSetController {
    const NAME: &'static str = "daemonset";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["DaemonSet"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["DaemonSet", "Pod", "Node"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let key = &event.object.key;
        match key.kind.as_str() {
            // A node that joins, changes or leaves concerns every DaemonSet.
            "Node" => match self.store().list("DaemonSet", None).await {
                Ok((items, _)) => items.into_iter().map(|s| s.key).collect(),
                Err(_) => Vec::new(),
            },
            // An orphan may be adopted by any DaemonSet of its namespace.
            "Pod" if !has_controller(event) => {
                all_in_namespace(self.store(), "DaemonSet", &key.namespace).await
            }
            _ => self_or_owner(event, "DaemonSet"),
        }
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let Some(stored) = self.store().get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let ds: DaemonSet = decode(&stored)?;
        if is_being_deleted(&ds.metadata) {
            return Ok(Action::AwaitChange);
        }
        let (nodes, _) = self.store().list("Node", None).await?;
        let nodes: Vec<Node> = decode_all(&nodes);
        let (pods, _) = self.store().list("Pod", Some(&key.namespace)).await?;
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let spec = ds.spec.clone().unwrap_or_default();
        let pods = decode_all::<Pod>(&pods);
        let owned: Vec<Pod> = claim_pods(
            self.store(),
            "DaemonSet",
            &ds.metadata,
            &spec.selector,
            pods,
        )
        .await?
        .into_iter()
        .filter(|p| !is_being_deleted(&p.metadata))
        .collect();
        let hash = template_hash(
            &spec.template,
            ds.status.as_ref().and_then(|s| s.collision_count),
        );
        let at = Moment {
            hash: &hash,
            min_ready: Duration::from_secs(spec.min_ready_seconds.unwrap_or(0).max(0) as u64),
            now: self.ctx.clock.now_seconds(),
        };
        let by_node = group(&ds, &nodes, &owned);
        let desired = by_node.iter().filter(|n| n.placement.should_run).count() as i32;
        let strategy = spec.update_strategy.clone().unwrap_or_default();
        let rolling = strategy.rolling_update.clone().unwrap_or_default();
        let on_delete = strategy.type_.as_deref() == Some("OnDelete");
        let resolve = |v: Option<&IntOrString>, default: i32| {
            v.map_or(Ok(default), |v| scaled_value(v, desired, true))
                .map_err(Error::Invalid)
        };
        let max_surge = if on_delete {
            0
        } else {
            resolve(rolling.max_surge.as_ref(), 0)?
        };
        let max_unavailable = match resolve(rolling.max_unavailable.as_ref(), 1)? {
            0 if max_surge == 0 => 1,
            n => n,
        };
        let mut plan = plan::manage(&by_node, max_surge > 0, at);
        let held = self.hold_back_failed(&uid, &mut plan, at);
        if plan.is_empty() && !on_delete {
            plan = if max_surge > 0 {
                plan::surge(&by_node, max_surge, at)
            } else {
                plan::roll(&by_node, max_unavailable, at)
            };
        }
        self.carry_out(key, &ds, &hash, &plan).await?;
        status::write(self.store(), &ds, status::compute(&ds, &by_node, at)).await?;
        Ok(match (next_availability(&owned, at), held) {
            (Action::Requeue(a), Some(b)) => Action::Requeue(a.min(b)),
            (action, None) => action,
            (Action::AwaitChange, Some(b)) => Action::Requeue(b),
        })
    }
}

impl DaemonSetController {
    /// Keeps failed pods (and their replacements) out of `plan` on nodes still in their
    /// backoff; how long until the first of those may go.
    fn hold_back_failed(&self, uid: &str, plan: &mut Plan<'_>, at: Moment<'_>) -> Option<Duration> {
        let mut held_nodes = Vec::new();
        let mut soonest: Option<Duration> = None;
        plan.delete.retain(|(pod, why)| {
            if *why != Why::Failed {
                return true;
            }
            let node = node_of(pod).unwrap_or_default();
            match self.failed_pods.take(uid, &node, at.now) {
                Ok(()) => true,
                Err(left) => {
                    soonest = Some(soonest.map_or(left, |s| s.min(left)));
                    held_nodes.push(node);
                    false
                }
            }
        });
        plan.create.retain(|node| !held_nodes.contains(node));
        soonest.map(|s| s + Duration::from_millis(100))
    }

    /// Deletes and creates what `plan` says, with an event for each.
    async fn carry_out(
        &self,
        key: &Key,
        ds: &DaemonSet,
        hash: &str,
        plan: &Plan<'_>,
    ) -> Result<(), Error> {
        for (pod, why) in &plan.delete {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if *why == Why::Failed {
                let node = node_of(pod).unwrap_or_default();
                let message = format!(
                    "Found failed daemon pod {}/{name} on node {node}, will try to kill it",
                    key.namespace
                );
                self.event(ds, "Warning", "FailedDaemonPod", &message).await;
            }
            let pod_key = Key::new("Pod", &key.namespace, &name);
            let uid = pod.metadata.uid.as_deref().unwrap_or_default();
            if deleted(self.ctx.as_ref(), &pod_key, uid).await? {
                info!(daemonset = %key, pod = %name, reason = ?why, "daemon pod deleted");
                let message = format!("Deleted pod: {name}");
                self.event(ds, "Normal", "SuccessfulDelete", &message).await;
            }
        }
        for node in &plan.create {
            let template = template_for_node(ds, node, hash);
            let now = self.ctx.clock.now_seconds();
            let name =
                owned_pods::create(self.store(), now, "DaemonSet", &ds.metadata, template).await?;
            info!(daemonset = %key, pod = %name, node = %node, "daemon pod created");
            let message = format!("Created pod: {name}");
            self.event(ds, "Normal", "SuccessfulCreate", &message).await;
        }
        Ok(())
    }

    /// An event on the DaemonSet, for `describe ds`.
    async fn event(&self, ds: &DaemonSet, type_: &str, reason: &str, message: &str) {
        let on = ("DaemonSet", &ds.metadata);
        self.ctx
            .event_on(on, (type_, reason), message, COMPONENT)
            .await;
    }
}

/// The DaemonSet's pods by the node they are for, every node listed (by name); pods of
/// nodes that no longer exist (or pinned to none) under a node that should run nothing.
fn group<'a>(ds: &DaemonSet, nodes: &[Node], owned: &'a [Pod]) -> Vec<NodePods<'a>> {
    let mut by_node: BTreeMap<String, NodePods<'a>> = nodes
        .iter()
        .map(|node| {
            let name = node.metadata.name.clone().unwrap_or_default();
            let pods = NodePods {
                node: name.clone(),
                placement: placement(ds, node),
                active: Vec::new(),
                finished: Vec::new(),
            };
            (name, pods)
        })
        .collect();
    for pod in owned {
        let node = node_of(pod).unwrap_or_default();
        let entry = by_node.entry(node.clone()).or_insert_with(|| NodePods {
            node,
            placement: Placement {
                should_run: false,
                should_continue: false,
            },
            active: Vec::new(),
            finished: Vec::new(),
        });
        if pod_is_terminal(pod) {
            entry.finished.push(pod);
        } else {
            entry.active.push(pod);
        }
    }
    let mut nodes: Vec<NodePods<'a>> = by_node.into_values().collect();
    for node in &mut nodes {
        node.active.sort_by_key(|p| {
            (
                p.metadata.creation_timestamp.as_ref().map(|t| t.0),
                p.metadata.name.clone(),
            )
        });
    }
    nodes
}

/// A requeue for when the first ready pod becomes available (minReadySeconds).
fn next_availability(owned: &[Pod], at: Moment<'_>) -> Action {
    owned
        .iter()
        .filter_map(|p| match availability(p, at.min_ready, at.now) {
            Availability::ReadyFor(left) => Some(left),
            _ => None,
        })
        .min()
        .map_or(Action::AwaitChange, |left| {
            Action::Requeue(left + Duration::from_millis(100))
        })
}
