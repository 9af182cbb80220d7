//! The node lifecycle controller: what happens to nodes that stop heartbeating, and to
//! their pods (Kubernetes' node lifecycle and taint eviction controllers, plus PodGC's
//! orphan sweep).
//!
//! Contract:
//! - Level-triggered and periodic (every `Timing::lifecycle_period`, and on a Node
//!   change): a [`Reconciler`] of one key on the reconcile runtime, whose every
//!   reconcile is a pass. Each pass reads
//!   every node, lease and pod and acts on the difference between the clock and the
//!   leases. Nothing is remembered between passes except when an orphaned pod was first
//!   seen; a restarted controller picks up where the stored timestamps say it is (within
//!   the safeguards below).
//! - A node whose last sign of life (lease renewal, Ready heartbeat, creation) is older
//!   than `node_grace` gets every condition Unknown (`NodeStatusUnknown`), a NodeNotReady
//!   event, and its pods Ready=False so Services stop sending them traffic.
//! - Pods of a node that has not been Ready for `pod_eviction` are deleted, as
//!   Kubernetes' taint eviction does (for every pod, bare or owned: owned pods are
//!   recreated elsewhere by their controllers; bare pods are simply gone, as in
//!   Kubernetes). A pod that tolerates the `node.kubernetes.io/unreachable` (or
//!   `not-ready`) NoExecute taint waits its `tolerationSeconds`, or forever without them;
//!   DaemonSet and mirror pods are never evicted.
//! - Two safeguards, as in Kubernetes: while no node at all is Ready, evictions pause
//!   (the fault is more likely on the control plane's side); and a freshly started
//!   controller counts every node as alive at its start, so a control plane that was
//!   down itself neither marks nodes NotReady before they had `node_grace` to reconnect
//!   nor evicts sooner than `pod_eviction` after starting.
//! - Pods bound to a node that no longer exists are deleted after `node_grace`.
//! - The NoExecute taints users put on a node evict the pods that do not tolerate them
//!   (`taints.rs`), whether the node is Ready or not.
//! - One span per node per pass (`node_lifecycle`).

mod evict;
mod taints;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tracing::Instrument;

use super::run_passes;
use super::NodeContext;
use crate::controllers::runtime::{Action, Reconciler};
use crate::core::clock::elapsed;
use crate::core::events::{self, NODE_CONTROLLER};
use crate::core::kinds::LEASE_NAMESPACE;
use crate::core::objects::{
    decode, lease_key, modify, node_condition, node_is_ready, node_key, pod_node, renew_time,
    Modified,
};
use crate::core::Error;
use crate::store::{Event, Key};

pub const UNKNOWN_REASON: &str = "NodeStatusUnknown";
const STOPPED_MESSAGE: &str = "Kubelet stopped posting node status.";
const NEVER_MESSAGE: &str = "Kubelet never posted node status.";

pub struct LifecycleController {
    ctx: Arc<NodeContext>,
    /// Pods bound to a missing node, and when a pass first saw them so.
    orphans: tokio::sync::Mutex<HashMap<Key, Timestamp>>,
    /// When this controller started: nothing it did not see counts as older than this.
    started: Timestamp,
}

impl LifecycleController {
    pub fn new(ctx: Arc<NodeContext>) -> Self {
        let started = ctx.clock.now();
        LifecycleController {
            ctx,
            orphans: tokio::sync::Mutex::new(HashMap::new()),
            started,
        }
    }

    /// Runs on the reconcile runtime until its task is aborted.
    pub async fn run(self) {
        let period = self.ctx.timing.lifecycle_period;
        let ctx = self.ctx.clone();
        run_passes(self, &ctx, (period, period), period).await;
    }

    /// One pass over every node (see the module docs).
    pub async fn pass(&self) -> Result<(), Error> {
        let store = self.ctx.cp.store.as_ref();
        let (stored_nodes, _) = store.list("Node", None).await?;
        let (stored_leases, _) = store.list("Lease", Some(LEASE_NAMESPACE)).await?;
        let (stored_pods, _) = store.list("Pod", None).await?;
        let renewed: HashMap<String, Timestamp> = stored_leases
            .iter()
            .filter_map(|s| Some((s.key.name.clone(), renew_time(&decode::<Lease>(s).ok()?)?)))
            .collect();
        let mut pods_by_node: HashMap<String, Vec<Pod>> = HashMap::new();
        // Each pod's bytes are dropped as it is decoded; only bound pods are kept.
        for stored in stored_pods {
            let Ok(pod) = decode::<Pod>(&stored) else {
                continue;
            };
            if let Some(node) = pod_node(&pod).map(str::to_string) {
                pods_by_node.entry(node).or_default().push(pod);
            }
        }
        // Phase 1: which nodes are silent. Phase 2, knowing how many are left Ready:
        // their pods.
        let mut nodes = Vec::new();
        for stored in &stored_nodes {
            let Ok(node) = decode::<Node>(stored) else {
                continue;
            };
            let name = stored.key.name.clone();
            let span = tracing::info_span!("node_lifecycle", node = %name);
            let renewed = renewed.get(&name).copied();
            match self.expire(&node, renewed).instrument(span).await {
                Ok(Some(updated)) => nodes.push(updated),
                Ok(None) => nodes.push(node),
                Err(err) => {
                    tracing::warn!(node = %name, error = %err, "node lifecycle failed; retrying next pass");
                    nodes.push(node);
                }
            }
        }
        let evictions = nodes.iter().any(node_is_ready);
        let mut names = HashSet::new();
        for node in &nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            names.insert(name.clone());
            let pods = pods_by_node
                .get(&name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let span = tracing::info_span!("node_lifecycle", node = %name);
            let result = async {
                self.handle_pods(node, pods, evictions).await?;
                taints::evict_untolerated(&self.ctx, node, pods, self.started).await
            }
            .instrument(span)
            .await;
            if let Err(err) = result {
                tracing::warn!(node = %name, error = %err, "node lifecycle failed; retrying next pass");
            }
        }
        pods_by_node.retain(|node, _| !names.contains(node));
        self.sweep_orphans(pods_by_node.into_values().flatten().collect())
            .await;
        Ok(())
    }

    /// The pods of a node that is not Ready: marked not Ready, and evicted when their
    /// time is up, unless `evictions` is false (no node at all is Ready: Kubernetes'
    /// "full disruption", where the fault is more likely the control plane's own network
    /// than every node at once, and evicting would only empty the cluster).
    async fn handle_pods(&self, node: &Node, pods: &[Pod], evictions: bool) -> Result<(), Error> {
        let Some(ready) = node_condition(node, "Ready").filter(|c| c.status != "True") else {
            return Ok(());
        };
        let now = self.ctx.clock.now();
        let taint = match ready.status.as_str() {
            "Unknown" => evict::UNREACHABLE,
            _ => evict::NOT_READY,
        };
        // Never sooner than `pod_eviction` after this controller started: a control plane
        // that was down itself does not know how long the node really was.
        let since = ready.last_transition_time.as_ref().map_or(now, |t| t.0);
        let not_ready_for = elapsed(now, since.max(self.started));
        for pod in pods {
            let marked = evict::mark_not_ready(&self.ctx, pod).await?;
            let pod = marked.as_ref().unwrap_or(pod);
            let due = evict::eviction_delay(pod, taint, self.ctx.cp.config.pod_eviction);
            if due.is_none_or(|due| not_ready_for < due) {
                continue;
            }
            if evictions {
                evict::evict(&self.ctx, pod).await?;
            } else {
                tracing::info!(pod = %evict::key_of(pod), "no node is ready: eviction paused");
            }
        }
        Ok(())
    }

    /// Marks the node's conditions Unknown when it has shown no sign of life for
    /// `node_grace`; returns the node as written, if it wrote.
    async fn expire(&self, node: &Node, renewed: Option<Timestamp>) -> Result<Option<Node>, Error> {
        let now = self.ctx.clock.now();
        let grace = self.ctx.cp.config.node_grace;
        // A restarted control plane gives every node a full grace period to reconnect.
        let renewed = renewed.max(Some(self.started));
        if !silent_for(node, renewed, now, grace) {
            return Ok(None);
        }
        let name = node.metadata.name.clone().unwrap_or_default();
        // A heartbeat may have landed since the pass listed the leases.
        let store = self.ctx.cp.store.as_ref();
        let fresh = match store.get(&lease_key(&name)).await? {
            Some(stored) => decode::<Lease>(&stored).ok().as_ref().and_then(renew_time),
            None => None,
        };
        let renewed = renewed.max(fresh);
        let written = modify::<Node, _>(
            store,
            &node_key(&name),
            node.metadata.uid.as_deref(),
            |current| Ok(silent_for(current, renewed, now, grace) && mark_unknown(current, now)),
        )
        .await?;
        let Modified::Written(updated) = written else {
            return Ok(None);
        };
        tracing::warn!(node = %name, "node stopped posting status: not ready");
        let involved = events::reference(
            "Node",
            "",
            &name,
            node.metadata.uid.as_deref().unwrap_or_default(),
        );
        let message = format!("Node {name} status is now: NodeNotReady");
        events::record_or_warn(
            &self.ctx,
            involved,
            "Normal",
            "NodeNotReady",
            &message,
            NODE_CONTROLLER,
        )
        .await;
        Ok(Some(updated))
    }

    /// Deletes pods whose node has been missing for `node_grace`.
    async fn sweep_orphans(&self, orphans: Vec<Pod>) {
        let mut seen = self.orphans.lock().await;
        let now = self.ctx.clock.now();
        let grace = self.ctx.cp.config.node_grace;
        let mut current = HashMap::new();
        for pod in orphans {
            let key = evict::key_of(&pod);
            let since = seen.get(&key).copied().unwrap_or(now);
            if elapsed(now, since) >= grace {
                if let Err(err) = evict::evict(&self.ctx, &pod).await {
                    tracing::warn!(pod = %key, error = %err, "orphaned pod not deleted");
                }
            }
            current.insert(key, since);
        }
        *seen = current;
    }
}

/// The one key the passes run under: a pass looks at every node.
fn pass_key() -> Key {
    Key::new("NodeLifecycle", "", "pass")
}

impl Reconciler for LifecycleController {
    const NAME: &'static str = NODE_CONTROLLER;

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Node", "Pod"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Node"]
    }

    fn primary_key(&self, _listed: &Key) -> Key {
        pass_key()
    }

    async fn triggers(&self, _event: &Event) -> Vec<Key> {
        vec![pass_key()]
    }

    /// A pass, then another after `lifecycle_period`: silence is only seen by looking.
    async fn reconcile(&self, _key: &Key) -> Result<Action, Error> {
        self.pass().await?;
        Ok(Action::Requeue(self.ctx.timing.lifecycle_period))
    }
}

/// True when the node's last sign of life is older than `grace` and it is not already
/// marked Unknown.
fn silent_for(
    node: &Node,
    renewed: Option<Timestamp>,
    now: Timestamp,
    grace: std::time::Duration,
) -> bool {
    let ready = node_condition(node, "Ready");
    if ready.is_some_and(|c| c.status == "Unknown") {
        return false;
    }
    let heartbeat = ready
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let last = [renewed, heartbeat, created].into_iter().flatten().max();
    last.is_none_or(|last| elapsed(now, last) > grace)
}

/// Every condition Unknown, as Kubernetes does; heartbeat times stay (they are the
/// node's, not ours). Always changes something when called on a node not yet Unknown.
fn mark_unknown(node: &mut Node, now: Timestamp) -> bool {
    let conditions = node
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new);
    let message = match conditions.iter().any(|c| c.type_ == "Ready") {
        true => STOPPED_MESSAGE,
        false => NEVER_MESSAGE,
    };
    if !conditions.iter().any(|c| c.type_ == "Ready") {
        conditions.push(NodeCondition {
            type_: "Ready".into(),
            ..Default::default()
        });
    }
    for condition in conditions.iter_mut() {
        if condition.status != "Unknown" {
            condition.status = "Unknown".into();
            condition.last_transition_time = Some(Time(now));
        }
        condition.reason = Some(UNKNOWN_REASON.into());
        condition.message = Some(message.into());
    }
    true
}
