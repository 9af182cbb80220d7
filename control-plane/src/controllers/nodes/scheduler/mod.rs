//! The scheduler: binds Pending pods to nodes.
//!
//! Contract, on the reconcile runtime (a [`Reconciler`] of one key, whose every
//! reconcile is a pass):
//! - Level-triggered: a pass ([`Scheduler::pass`]) lists every node and pod and decides
//!   from that alone; events only say when to run one. A pass that runs twice binds
//!   nothing twice: binding is a compare-and-swap on the revision the pass read, and a
//!   pod already bound is left alone.
//! - Triggers: any Pod or Node change, a resync period, and per-pod backoff deadlines.
//! - A pod that fits nowhere stays Pending with PodScheduled=False (reason
//!   Unschedulable, Kubernetes' message) and a FailedScheduling event counted up on each
//!   retry. It is retried after a backoff (doubling up to a maximum), or at once when a
//!   node changes or a pod frees resources, or when the pod itself changes.
//! - One span per scheduling attempt (`schedule`, with the pod).

pub mod affinity;
mod bind;
pub mod fit;
pub mod requests;
pub mod volumes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use tokio::time::{Duration, Instant};
use tracing::Instrument;

use super::changes::{classify, Change};
use super::run_passes;
use super::NodeContext;
use crate::controllers::runtime::{Action, Reconciler};
use crate::core::objects::{decode_or_skip, pod_is_terminal, pod_key, pod_node};
use crate::core::Error;
use crate::store::{Event, Key};

/// The scheduler names pods must carry (or none) for this scheduler to take them.
const SCHEDULER_NAMES: &[&str] = &["default-scheduler", "skiff"];

/// What became of one pod in a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Bound(String),
    /// Left Pending; the pod's revision after the PodScheduled=False write.
    Unschedulable {
        revision: i64,
        message: String,
    },
    /// The pod changed or vanished since the pass read it; its change event triggers the
    /// next pass.
    Stale,
}

struct Backoff {
    revision: i64,
    delay: Duration,
    until: Instant,
}

impl Backoff {
    /// The pod at `revision` waits `delay` from now.
    fn after(revision: i64, delay: Duration) -> Self {
        Backoff {
            revision,
            delay,
            until: Instant::now() + delay,
        }
    }
}

pub struct Scheduler {
    ctx: Arc<NodeContext>,
    /// Pods that did not fit or failed, and when to try them again (held for a whole
    /// pass).
    backoff: tokio::sync::Mutex<HashMap<Key, Backoff>>,
}

impl Scheduler {
    pub fn new(ctx: Arc<NodeContext>) -> Self {
        Scheduler {
            ctx,
            backoff: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Runs on the reconcile runtime until its task is aborted.
    pub async fn run(self) {
        let ctx = self.ctx.clone();
        let timing = &ctx.timing;
        let backoff = (timing.backoff_initial, timing.backoff_max);
        run_passes(self, &ctx, backoff, timing.scheduler_resync).await;
    }

    /// One pass over every Pending pod; returns the earliest backoff deadline.
    ///
    /// Each listed pod is decoded once and dropped: a bound one is counted on its node,
    /// of a pending one only its key, revision and creation time are kept, and it is read
    /// again when its turn comes (not at all while it backs off). A pass over thousands
    /// of pods never holds them all, decoded or as bytes, while it writes their
    /// conditions (docs/architecture.md, What costs what).
    pub async fn pass(&self) -> Result<Option<Instant>, Error> {
        let mut backoff = self.backoff.lock().await;
        let store = self.ctx.cp.store.as_ref();
        let (stored_nodes, _) = store.list("Node", None).await?;
        let nodes: Vec<Node> = stored_nodes.iter().filter_map(decode_or_skip).collect();
        let mut infos = fit::snapshot(nodes, &[]);
        let (stored_pods, _) = store.list("Pod", None).await?;
        let mut pending = Vec::new();
        for stored in stored_pods {
            let Some(pod) = decode_or_skip::<Pod>(&stored) else {
                continue;
            };
            if wants_scheduling(&pod) {
                pending.push(Waiting {
                    order: order_of(&pod),
                    key: key_of(&pod),
                    revision: revision_of(&pod),
                });
            } else {
                fit::account(&mut infos, &pod);
            }
        }
        let facts = crate::controllers::volumes::StorageObjects::read(store).await?;

        pending.sort_by(|a, b| a.order.cmp(&b.order));
        // A set: with thousands of pending pods a list made this pass quadratic.
        let keys: HashSet<&Key> = pending.iter().map(|w| &w.key).collect();
        backoff.retain(|key, _| keys.contains(key));

        let now = Instant::now();
        for Waiting { key, revision, .. } in pending {
            if let Some(b) = backoff.get(&key) {
                if b.revision == revision && b.until > now {
                    continue;
                }
            }
            // Changed or gone since the list: its event triggers the next pass, as a
            // failed compare-and-swap on the listed revision would.
            let Some(pod) = store
                .get(&key)
                .await?
                .filter(|s| s.revision == revision)
                .and_then(|s| decode_or_skip::<Pod>(&s))
            else {
                backoff.remove(&key);
                continue;
            };
            let span = tracing::info_span!("schedule", pod = %key);
            match self
                .schedule_one(&mut infos, &facts, &pod)
                .instrument(span)
                .await
            {
                Ok(Outcome::Bound(_)) | Ok(Outcome::Stale) => {
                    backoff.remove(&key);
                }
                Ok(Outcome::Unschedulable { revision, .. }) => {
                    let delay = self.ctx.timing.unschedulable_retry;
                    backoff.insert(key, Backoff::after(revision, delay));
                }
                Err(err) => {
                    tracing::warn!(pod = %key, error = %err, "scheduling failed");
                    self.back_off(&mut backoff, key, revision);
                }
            }
        }
        Ok(backoff.values().map(|b| b.until).min())
    }

    fn back_off(&self, backoff: &mut HashMap<Key, Backoff>, key: Key, revision: i64) {
        let timing = &self.ctx.timing;
        let delay = match backoff.get(&key) {
            Some(b) => (b.delay * 2).min(timing.backoff_max),
            None => timing.backoff_initial,
        };
        backoff.insert(key, Backoff::after(revision, delay));
    }

    /// Filters every node, then binds to the best or records why none fits.
    async fn schedule_one(
        &self,
        infos: &mut [fit::NodeInfo],
        facts: &crate::controllers::volumes::StorageObjects,
        pod: &Pod,
    ) -> Result<Outcome, Error> {
        let claims = match volumes::pod_claims_of(pod, facts) {
            Ok(claims) => claims,
            Err(reason) => {
                let message = match infos.len() {
                    0 => reason,
                    n => format!("0/{n} nodes are available: {reason}."),
                };
                return bind::mark_unschedulable(&self.ctx, pod, &message).await;
            }
        };
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut feasible = Vec::new();
        for (i, info) in infos.iter().enumerate() {
            let mut unfit = fit::unfit_reasons(pod, info);
            if unfit.is_empty() {
                unfit.extend(volumes::unfit_reason(&claims, facts, info).map(String::from));
            }
            if unfit.is_empty() {
                feasible.push(i);
            }
            for reason in unfit {
                *reasons.entry(reason).or_default() += 1;
            }
        }
        match fit::pick(pod, infos, &feasible) {
            Some(i) if claims.is_waiting() => {
                // The pod waits for its claims to be bound on the node; their change
                // triggers the pass that binds it (docs/architecture.md, Storage).
                volumes::select_node(self.ctx.cp.store.as_ref(), &claims, &infos[i].name).await?;
                Ok(Outcome::Stale)
            }
            Some(i) => {
                let outcome = bind::bind(&self.ctx, pod, &infos[i].name).await?;
                if let Some(bound) = &outcome {
                    infos[i].add_pod(bound);
                    return Ok(Outcome::Bound(infos[i].name.clone()));
                }
                Ok(Outcome::Stale)
            }
            None => {
                let message = fit::unschedulable_message(infos.len(), &reasons);
                bind::mark_unschedulable(&self.ctx, pod, &message).await
            }
        }
    }
}

/// The one key the passes run under: a pass looks at every pending pod.
fn pass_key() -> Key {
    Key::new("Scheduler", "", "pass")
}

impl Reconciler for Scheduler {
    const NAME: &'static str = "default-scheduler";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Pod"]
    }

    fn watched(&self) -> Vec<&'static str> {
        // What a waiting pod may wait for: they retry it at once.
        vec![
            "Node",
            "Pod",
            "PersistentVolumeClaim",
            "PersistentVolume",
            "StorageClass",
        ]
    }

    fn primary_key(&self, _listed: &Key) -> Key {
        pass_key()
    }

    /// A node change or freed resources may make any waiting pod fit: retry them all.
    async fn triggers(&self, event: &Event) -> Vec<Key> {
        if classify(event) != Change::Pod {
            self.backoff.lock().await.clear();
        }
        vec![pass_key()]
    }

    /// A pass; the next one is due at the earliest backoff deadline, if any.
    async fn reconcile(&self, _key: &Key) -> Result<Action, Error> {
        Ok(match self.pass().await? {
            Some(until) => Action::Requeue(until.saturating_duration_since(Instant::now())),
            None => Action::AwaitChange,
        })
    }
}

/// Pending, unbound, not being deleted, and addressed to this scheduler.
fn wants_scheduling(pod: &Pod) -> bool {
    let scheduler_ok = pod
        .spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .is_none_or(|name| name.is_empty() || SCHEDULER_NAMES.contains(&name));
    pod_node(pod).is_none()
        && !pod_is_terminal(pod)
        && pod.metadata.deletion_timestamp.is_none()
        && scheduler_ok
}

fn key_of(pod: &Pod) -> Key {
    let meta = &pod.metadata;
    pod_key(
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or_default(),
    )
}

fn revision_of(pod: &Pod) -> i64 {
    pod.metadata
        .resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Pods go in creation order (then namespace, name).
type Order = (Option<jiff::Timestamp>, Option<String>, Option<String>);

fn order_of(pod: &Pod) -> Order {
    let meta = &pod.metadata;
    (
        meta.creation_timestamp.as_ref().map(|t| t.0),
        meta.namespace.clone(),
        meta.name.clone(),
    )
}

/// A pending pod of a pass, until its turn.
struct Waiting {
    order: Order,
    key: Key,
    revision: i64,
}
