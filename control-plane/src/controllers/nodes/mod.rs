//! The node controllers: the scheduler (binds Pending pods to Ready nodes that fit,
//! `scheduler/`) and the node lifecycle controller (NotReady after `node_grace` without a
//! lease renewal, pods evicted after `pod_eviction` NotReady, `lifecycle/`).
//!
//! Time is read through [`Clock`] so tests can move it; the loops' own pacing (resync
//! periods, backoff) is real tokio time, configured by [`Timing`] and short in tests.
//! Every write is a compare-and-swap on the stored revision: the API server (labels,
//! deletes) and the agents (status) write the same objects concurrently.

pub(crate) mod changes;
pub mod lifecycle;
pub mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::runtime::{Controller, Reconciler, RuntimeConfig};
use crate::core::events::EventSink;
use crate::core::{Clock, ControlPlane, SystemClock};
use crate::store::Store;

pub use lifecycle::LifecycleController;
pub use scheduler::Scheduler;

/// How often the background loops act on their own, and how they back off. The defaults
/// are Kubernetes' (node monitor period 5 s, scheduler backoff 1 s doubling, unschedulable
/// pods retried after 5 min); tests use milliseconds.
#[derive(Debug, Clone)]
pub struct Timing {
    /// The scheduler makes a pass at least this often, even when nothing changed.
    pub scheduler_resync: Duration,
    /// First retry delay of a pod whose scheduling failed with an error; doubles per
    /// failure up to the maximum.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A pod no node fits waits this long for its next try unless a node, volume or claim
    /// changes or a pod frees what it held first, which retries it at once
    /// (kube-scheduler's podMaxInUnschedulablePodsDuration). Retrying such pods on a
    /// timer instead made thousands of pending pods a pass, and a list of every pod, every
    /// few hundred milliseconds.
    pub unschedulable_retry: Duration,
    /// How often the lifecycle controller compares leases with the clock.
    pub lifecycle_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            scheduler_resync: Duration::from_secs(300),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            unschedulable_retry: Duration::from_secs(300),
            lifecycle_period: Duration::from_secs(5),
        }
    }
}

/// What the node parts share: the control plane, the clock and the loop timing.
pub struct NodeContext {
    pub cp: Arc<ControlPlane>,
    pub clock: Arc<dyn Clock>,
    pub timing: Timing,
}

impl NodeContext {
    /// The production context: the system clock and default timing.
    pub fn new(cp: Arc<ControlPlane>) -> Arc<Self> {
        Arc::new(NodeContext {
            cp,
            clock: Arc::new(SystemClock),
            timing: Timing::default(),
        })
    }
}

impl EventSink for NodeContext {
    fn event_store(&self) -> &dyn Store {
        self.cp.store.as_ref()
    }
    fn event_clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }
}

/// Starts the scheduler and the node lifecycle controller; they run until aborted.
pub fn spawn_background(cp: Arc<ControlPlane>) -> Vec<JoinHandle<()>> {
    spawn_background_with(NodeContext::new(cp))
}

/// [`spawn_background`] with a chosen clock and timing (tests).
pub fn spawn_background_with(ctx: Arc<NodeContext>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(Scheduler::new(ctx.clone()).run()),
        tokio::spawn(LifecycleController::new(ctx).run()),
    ]
}

/// Runs a reconciler of one key (a pass over every node or pod) on the reconcile runtime
/// until aborted: `backoff` (initial, maximum) after a failed pass, a pass at least every
/// `resync`.
async fn run_passes<R: Reconciler>(
    reconciler: R,
    ctx: &NodeContext,
    backoff: (Duration, Duration),
    resync: Duration,
) {
    let config = RuntimeConfig {
        backoff_initial: backoff.0,
        backoff_max: backoff.1,
        resync,
        workers: 1,
    };
    let store = ctx.cp.store.clone();
    Controller::new(Arc::new(reconciler), store, config)
        .run()
        .await;
}
