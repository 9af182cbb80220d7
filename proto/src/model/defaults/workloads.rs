//! Defaults for workloads and Services, as in the API server's apps/v1, batch/v1 and
//! core/v1 defaulting (e.g. a Deployment rolls out with maxSurge and maxUnavailable 25%).

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy, ReplicaSet,
    RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, StatefulSet,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{default_pod_template, set};

fn percent(value: &str) -> IntOrString {
    IntOrString::String(value.to_string())
}

pub(super) fn default_replica_set(rs: &mut ReplicaSet) {
    let spec = rs.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    default_pod_template(spec.template.get_or_insert_with(Default::default));
}

/// Deployment defaults: 1 replica, RollingUpdate 25%/25%, 10 old ReplicaSets kept,
/// progress deadline 600s.
pub fn default_deployment(deployment: &mut Deployment) {
    let spec = deployment.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    let strategy = spec
        .strategy
        .get_or_insert_with(DeploymentStrategy::default);
    set(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let rolling = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        rolling.max_surge.get_or_insert_with(|| percent("25%"));
        rolling
            .max_unavailable
            .get_or_insert_with(|| percent("25%"));
    }
    default_pod_template(&mut spec.template);
}

pub(super) fn default_daemon_set(ds: &mut DaemonSet) {
    let spec = ds.spec.get_or_insert_with(Default::default);
    spec.revision_history_limit.get_or_insert(10);
    let strategy = spec
        .update_strategy
        .get_or_insert_with(DaemonSetUpdateStrategy::default);
    set(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let rolling = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
        rolling.max_surge.get_or_insert(IntOrString::Int(0));
    }
    default_pod_template(&mut spec.template);
}

pub(super) fn default_stateful_set(sts: &mut StatefulSet) {
    let spec = sts.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    set(&mut spec.pod_management_policy, "OrderedReady");
    let retention = spec
        .persistent_volume_claim_retention_policy
        .get_or_insert_with(Default::default);
    set(&mut retention.when_deleted, "Retain");
    set(&mut retention.when_scaled, "Retain");
    let strategy = spec
        .update_strategy
        .get_or_insert_with(StatefulSetUpdateStrategy::default);
    set(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let rolling = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
        rolling.partition.get_or_insert(0);
    }
    default_pod_template(&mut spec.template);
}

/// Job defaults: one pod to completion, 6 retries (no overall limit when retries are
/// counted per index). The template's restartPolicy is defaulted like any pod's (Always),
/// which validation then refuses, as Kubernetes does.
fn default_job_spec(spec: &mut JobSpec) {
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    let backoff_limit = match spec.backoff_limit_per_index {
        Some(_) => i32::MAX,
        None => 6,
    };
    spec.backoff_limit.get_or_insert(backoff_limit);
    set(&mut spec.completion_mode, "NonIndexed");
    spec.suspend.get_or_insert(false);
    spec.manual_selector.get_or_insert(false);
    let replacement = match spec.pod_failure_policy {
        Some(_) => "Failed",
        None => "TerminatingOrFailed",
    };
    set(&mut spec.pod_replacement_policy, replacement);
    let rules = spec
        .pod_failure_policy
        .iter_mut()
        .flat_map(|p| &mut p.rules);
    for rule in rules {
        for pattern in rule.on_pod_conditions.iter_mut().flatten() {
            if pattern.status.is_empty() {
                pattern.status = "True".into();
            }
        }
    }
    default_pod_template(&mut spec.template);
}

pub(super) fn default_job(job: &mut Job) {
    default_job_spec(job.spec.get_or_insert_with(Default::default));
}

pub(super) fn default_cron_job(cron_job: &mut CronJob) {
    let spec = cron_job.spec.get_or_insert_with(Default::default);
    set(&mut spec.concurrency_policy, "Allow");
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit.get_or_insert(3);
    spec.failed_jobs_history_limit.get_or_insert(1);
    default_job_spec(spec.job_template.spec.get_or_insert_with(Default::default));
}

/// Service defaults: ClusterIP, no session affinity, TCP ports whose targetPort is the
/// port itself, Cluster traffic policies.
pub fn default_service(service: &mut Service) {
    let spec = service.spec.get_or_insert_with(Default::default);
    set(&mut spec.type_, "ClusterIP");
    set(&mut spec.session_affinity, "None");
    let service_type = spec.type_.clone().unwrap_or_default();
    if service_type != "ExternalName" {
        set(&mut spec.internal_traffic_policy, "Cluster");
    }
    if service_type == "NodePort" || service_type == "LoadBalancer" {
        set(&mut spec.external_traffic_policy, "Cluster");
    }
    for port in spec.ports.iter_mut().flatten() {
        set(&mut port.protocol, "TCP");
        let unset = match &port.target_port {
            None | Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(name)) => name.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
}
