//! Which pods go first when a ReplicaSet has too many: Kubernetes' ActivePods order —
//! unscheduled before scheduled, Pending before Unknown before Running, not ready before
//! ready, the more recently ready first, more restarts first, the newest first.

use std::cmp::Ordering;

use k8s_openapi::api::core::v1::Pod;

use crate::core::objects::{created, phase, ready_since};

fn phase_rank(pod: &Pod) -> u8 {
    match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0)
}

/// `Less` when `a` should be deleted before `b`.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let scheduled = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    scheduled(a)
        .cmp(&scheduled(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| ready_since(a).is_some().cmp(&ready_since(b).is_some()))
        // Both ready (or both not): the more recently ready goes first.
        .then_with(|| ready_since(b).cmp(&ready_since(a)))
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| created(&b.metadata).cmp(&created(&a.metadata)))
}

/// The `count` pods to delete first.
pub fn to_delete<'a>(pods: &[&'a Pod], count: usize) -> Vec<&'a Pod> {
    let mut sorted: Vec<&Pod> = pods.to_vec();
    sorted.sort_by(|a, b| deletion_order(a, b));
    sorted.truncate(count);
    sorted
}
