//! The Deployment's status and its two conditions, as Kubernetes words them:
//! - Available: True `MinimumReplicasAvailable` when at least `replicas - maxUnavailable`
//!   pods are available, else False `MinimumReplicasUnavailable`;
//! - Progressing: True `NewReplicaSetCreated` / `ReplicaSetUpdated` while the rollout
//!   moves, True `NewReplicaSetAvailable` once complete, False `ProgressDeadlineExceeded`
//!   when it has not moved for `progressDeadlineSeconds`, Unknown `DeploymentPaused` /
//!   `DeploymentResumed`.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Counts from the pods of the Deployment's ReplicaSets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Σ spec.replicas of every ReplicaSet.
    pub spec_total: i32,
    /// Active pods of every ReplicaSet.
    pub pods: i32,
    /// Active pods of the new ReplicaSet.
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
}

pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// Sets a condition as Kubernetes' SetDeploymentCondition: nothing changes when status
/// and reason are the same; the transition time stays when only the reason changes.
pub fn set_condition(
    status: &mut DeploymentStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) {
    set(status, type_, value, reason, message, now, false);
}

/// `refresh`: move the update time even when nothing else changes (progress was made).
fn set(
    status: &mut DeploymentStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: String,
    now: Timestamp,
    refresh: bool,
) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let existing = conditions.iter().position(|c| c.type_ == type_);
    if let Some(i) = existing {
        let c = &conditions[i];
        if !refresh
            && c.status == value
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message.as_str())
        {
            return;
        }
    }
    let transition = existing
        .map(|i| &conditions[i])
        .filter(|c| c.status == value)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    let new = DeploymentCondition {
        type_: type_.into(),
        status: value.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(transition),
        last_update_time: Some(Time(now)),
    };
    match existing {
        Some(i) => conditions[i] = new,
        None => conditions.push(new),
    }
}

pub fn is_complete(desired: i32, counts: &Counts) -> bool {
    counts.updated == desired && counts.pods == desired && counts.available == desired
}

/// What moved since the last status, as Kubernetes' DeploymentProgressing.
fn progressed(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_old = old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0);
    let new_old = new.replicas.unwrap_or(0) - new.updated_replicas.unwrap_or(0);
    new.updated_replicas.unwrap_or(0) > old.updated_replicas.unwrap_or(0)
        || new_old < old_old
        || new.ready_replicas.unwrap_or(0) > old.ready_replicas.unwrap_or(0)
        || new.available_replicas.unwrap_or(0) > old.available_replicas.unwrap_or(0)
}

/// The new status, and when to look again for the progress deadline.
pub fn compute(
    deployment: &Deployment,
    counts: &Counts,
    new_rs_name: Option<&str>,
    new_rs_created: bool,
    max_unavailable: i32,
    now: Timestamp,
) -> (DeploymentStatus, Option<Duration>) {
    let spec = deployment.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let old = deployment.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: deployment.metadata.generation,
        replicas: Some(counts.pods),
        updated_replicas: Some(counts.updated),
        ready_replicas: Some(counts.ready),
        available_replicas: Some(counts.available),
        unavailable_replicas: Some((counts.spec_total.max(desired) - counts.available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: None,
    };
    if counts.available >= desired - max_unavailable {
        set_condition(
            &mut status,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            now,
        );
    } else {
        set_condition(
            &mut status,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            now,
        );
    }
    let rs_name = new_rs_name.unwrap_or_default();
    if spec.paused == Some(true) {
        set_condition(
            &mut status,
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
            now,
        );
        return (status, None);
    }
    let was_paused = condition(&old, "Progressing")
        .is_some_and(|c| c.reason.as_deref() == Some("DeploymentPaused"));
    if was_paused {
        set_condition(
            &mut status,
            "Progressing",
            "Unknown",
            "DeploymentResumed",
            "Deployment is resumed".into(),
            now,
        );
    }
    let Some(deadline) = spec.progress_deadline_seconds else {
        return (status, None);
    };
    if new_rs_created {
        set(
            &mut status,
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set {rs_name:?}"),
            now,
            true,
        );
    } else if is_complete(desired, counts) && new_rs_name.is_some() {
        set_condition(
            &mut status,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet {rs_name:?} has successfully progressed."),
            now,
        );
        return (status, None);
    } else if progressed(&old, &status) || was_paused {
        set(
            &mut status,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet {rs_name:?} is progressing."),
            now,
            true,
        );
    }
    let deadline = Duration::from_secs(deadline.max(0) as u64);
    let Some(progressing) = condition(&status, "Progressing").cloned() else {
        return (status, None);
    };
    if progressing.reason.as_deref() == Some("ProgressDeadlineExceeded") {
        return (status, None);
    }
    let since = progressing.last_update_time.map_or(now, |t| t.0);
    let elapsed = Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO);
    if elapsed >= deadline {
        set_condition(
            &mut status,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet {rs_name:?} has timed out progressing."),
            now,
        );
        return (status, None);
    }
    (
        status,
        Some(deadline - elapsed + Duration::from_millis(500)),
    )
}
