//! What a pod's stored state says: where it runs, whether it is finished, ready or
//! available (what ReplicaSets, Deployments, the scheduler and eviction count with).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::owners::is_being_deleted;

/// The node a pod is bound to, if any.
pub fn pod_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Succeeded or Failed: the pod holds no resources any more.
pub fn pod_is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Counted by its ReplicaSet: not finished and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && !is_being_deleted(&pod.metadata)
}

/// Since when the pod has been Ready, if it is (`None` when not ready). A Ready condition
/// without a transition time counts as ready since the epoch.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let condition = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(
        condition
            .last_transition_time
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0),
    )
}

pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Ready for at least `min_ready` at `now`. When ready but not yet long enough: how long
/// until it will be (so the caller can requeue then).
pub fn availability(pod: &Pod, min_ready: Duration, now: Timestamp) -> Availability {
    let Some(since) = ready_since(pod) else {
        return Availability::NotReady;
    };
    if min_ready.is_zero() {
        return Availability::Available;
    }
    let ready_for = Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO);
    if ready_for >= min_ready {
        Availability::Available
    } else {
        Availability::ReadyFor(min_ready - ready_for)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    NotReady,
    /// Ready, available after the remaining duration.
    ReadyFor(Duration),
    Available,
}
