//! The controllers (docs/architecture.md, Control plane layers): ReplicaSet, Deployment and
//! the garbage collector, each a [`Reconciler`] run by the small runtime in `runtime.rs`
//! (watch-driven work queue keyed by object, requeue with backoff, one span per reconcile);
//! the node controllers (`nodes/`: scheduler, node lifecycle) and the Services'
//! (`services/`: Endpoints, claim release).
//!
//! | controller | file |
//! |------------|------|
//! | ReplicaSet: pods for `replicas`, adoption, scale-down order, status | `replicaset/` |
//! | Deployment: ReplicaSets per template, rolling update, Recreate, conditions | `deployment/` |
//! | StatefulSet: ordinal pods and their claims, ordered or parallel, partitioned updates | `statefulset/` |
//! | Job: pods to completions, parallelism, backoffLimit, deadline, suspend, ttl | `job/` |
//! | CronJob: a Job per scheduled time, concurrencyPolicy, deadline, history limits | `cronjob/` |
//! | DaemonSet: a pod per eligible node, rolling update with maxUnavailable/maxSurge, OnDelete | `daemonset/` |
//! | garbage collection through ownerReferences | `gc.rs` |
//! | namespaces being deleted: their content, conditions, the `kubernetes` finalizer | `namespaces/` |
//! | Events not written for `--event-ttl` deleted | `event_ttl.rs` |
//! | scheduler, node lifecycle | `nodes/` |
//! | Endpoints, release of deleted Services' claims | `services/` |
//! | LoadBalancer Services: the Ready nodes' addresses as their ingress | `load_balancer.rs` |
//! | volumes and claims: binding, the local-path provisioner, phases, protection | `volumes/` |
//! | ClusterRole aggregation (`admin`, `edit`, `view`) | `aggregation.rs` |
//! | each namespace's `default` ServiceAccount and `kube-root-ca.crt`; the `kubernetes` Service | `service_accounts/` |

pub mod aggregation;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod event_ttl;
pub mod gc;
pub mod job;
pub mod load_balancer;
pub mod namespaces;
pub mod nodes;
mod owned_pods;
pub mod replicaset;
pub mod runtime;
pub mod service_accounts;
pub mod services;
pub mod statefulset;
pub mod volumes;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::task::JoinHandle;

pub use aggregation::AggregationController;
pub use cronjob::CronJobController;
pub use daemonset::DaemonSetController;
pub use deployment::DeploymentController;
pub use event_ttl::EventTtlController;
pub use gc::GarbageCollector;
pub use job::JobController;
pub use load_balancer::LoadBalancerController;
pub use namespaces::NamespaceController;
pub use replicaset::ReplicaSetController;
pub use runtime::{Action, Controller, Reconciler, RuntimeConfig, Trigger};
pub use statefulset::StatefulSetController;
pub use volumes::VolumeController;

use crate::core::events::EventSink;
use crate::core::Error;
use crate::core::{Clock, ControlPlane, SystemClock};
use crate::resources::finalizers;
use crate::store::Key;
use crate::store::Store;

/// What the controllers share: the store and the wall clock (conditions, minReadySeconds
/// and progress deadlines compare stored timestamps with it; tests move a manual one).
pub struct ControllerContext {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

impl ControllerContext {
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(ControllerContext {
            store,
            clock: Arc::new(SystemClock),
        })
    }
}

impl ControllerContext {
    /// Records an event on the `kind` object `meta` (what `describe` shows); a failure to
    /// record is only logged.
    pub async fn event_on(
        &self,
        (kind, meta): (
            &str,
            &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        ),
        (type_, reason): (&str, &str),
        message: &str,
        component: &str,
    ) {
        let involved = crate::core::events::reference_to(kind, meta);
        crate::core::events::record_or_warn(self, involved, type_, reason, message, component)
            .await;
    }
}

/// A controller's delete of the object with `uid` it read (a surplus pod, an expired Job,
/// an old ReplicaSet), through the one finalizer-aware delete: true when this call
/// deleted or marked it, false when it was gone, replaced, or already being deleted (a
/// controller that comes back to a marked object writes nothing and reports nothing).
pub async fn deleted(ctx: &ControllerContext, key: &Key, uid: &str) -> Result<bool, Error> {
    let done = finalizers::delete_if(ctx.store.as_ref(), ctx.clock.as_ref(), key, uid).await?;
    Ok(done.is_some_and(|d| d.acted()))
}

impl EventSink for ControllerContext {
    fn event_store(&self) -> &dyn Store {
        self.store.as_ref()
    }
    fn event_clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }
}

/// What only the leader runs (docs/architecture.md, High availability): the scheduler
/// and node lifecycle, the Service controllers (Endpoints, claims' release), the
/// compactor (`(keep, interval)`), the workload controllers, each namespace's account
/// and CA, and the `kubernetes` Service with every live server (this one at
/// `advertised`). They run until aborted.
pub fn spawn_singletons(
    cp: &Arc<ControlPlane>,
    (keep, interval): (i64, std::time::Duration),
    advertised: std::net::SocketAddr,
) -> Vec<JoinHandle<()>> {
    nodes::spawn_background(cp.clone())
        .into_iter()
        .chain(services::spawn(cp.clone()))
        .chain([crate::store::spawn_compactor(
            cp.store.clone(),
            keep,
            interval,
        )])
        // workloads: ReplicaSet, Deployment, garbage collector
        .chain(spawn(cp.clone()))
        .chain([
            service_accounts::spawn(cp),
            service_accounts::kubernetes_service::spawn(cp, advertised),
        ])
        .collect()
}

/// Starts the workload controllers; they run until aborted.
pub fn spawn(cp: Arc<ControlPlane>) -> Vec<JoinHandle<()>> {
    spawn_with(
        ControllerContext::new(cp.store.clone()),
        RuntimeConfig::default(),
        cp.config.event_ttl,
    )
}

/// [`spawn`] with a chosen context and pacing (tests).
pub fn spawn_with(
    ctx: Arc<ControllerContext>,
    config: RuntimeConfig,
    event_ttl: std::time::Duration,
) -> Vec<JoinHandle<()>> {
    let store = ctx.store.clone();
    vec![
        tokio::spawn(
            Controller::new(
                Arc::new(EventTtlController::new(ctx.clone(), event_ttl)),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(ReplicaSetController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(DeploymentController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(JobController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(CronJobController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(StatefulSetController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(DaemonSetController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(LoadBalancerController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(VolumeController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(NamespaceController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(
            Controller::new(
                Arc::new(AggregationController::new(ctx.clone())),
                store.clone(),
                config.clone(),
            )
            .run(),
        ),
        tokio::spawn(Controller::new(Arc::new(GarbageCollector::new(ctx)), store, config).run()),
    ]
}
