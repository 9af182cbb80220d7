//! What one reconcile does to a DaemonSet's pods, decided from a snapshot without I/O:
//! Kubernetes' `manage` (a pod on every node that should run one, none elsewhere, failed
//! pods replaced, extra pods removed) and its `rollingUpdate` (old pods replaced at most
//! `maxUnavailable` nodes at a time, or with `maxSurge` a new pod started beside the old
//! one, which goes once the new one is available).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::placement::{is_updated, Placement};
use crate::core::objects::{availability, is_ready, Availability};

/// A node (or a node that no longer exists) and the DaemonSet's pods for it.
#[derive(Debug)]
pub struct NodePods<'a> {
    pub node: String,
    /// Nowhere (both false) for a node that no longer exists.
    pub placement: Placement,
    /// Running or about to: oldest first.
    pub active: Vec<&'a Pod>,
    /// Finished (Failed, or Succeeded although daemon pods always restart).
    pub finished: Vec<&'a Pod>,
}

/// Pods to delete (with why) and nodes to create a pod on.
#[derive(Debug, Default)]
pub struct Plan<'a> {
    pub create: Vec<String>,
    pub delete: Vec<(&'a Pod, Why)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The pod failed: replaced (a FailedDaemonPod event).
    Failed,
    /// The node should not run it, or has more than one.
    Misscheduled,
    /// Replaced by the new template.
    Update,
}

impl Plan<'_> {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.delete.is_empty()
    }
}

/// What availability means for this DaemonSet at this instant.
#[derive(Debug, Clone, Copy)]
pub struct Moment<'h> {
    pub hash: &'h str,
    pub min_ready: Duration,
    pub now: Timestamp,
}

impl Moment<'_> {
    pub fn available(&self, pod: &Pod) -> bool {
        availability(pod, self.min_ready, self.now) == Availability::Available
    }
}

/// Kubernetes' `manage`: creations and deletions that bring every node to its one pod.
/// With surge allowed a node may hold an old pod and a new one while the new one is
/// not yet available.
pub fn manage<'a>(nodes: &[NodePods<'a>], surge: bool, at: Moment<'_>) -> Plan<'a> {
    let mut plan = Plan::default();
    for node in nodes {
        plan.delete
            .extend(node.finished.iter().map(|p| (*p, Why::Failed)));
        let Placement {
            should_run,
            should_continue,
        } = node.placement;
        if !should_continue {
            plan.delete
                .extend(node.active.iter().map(|p| (*p, Why::Misscheduled)));
            continue;
        }
        if !should_run {
            continue;
        }
        if node.active.is_empty() {
            plan.create.push(node.node.clone());
            continue;
        }
        plan.delete.extend(
            excess(&node.active, surge, at)
                .into_iter()
                .map(|p| (p, Why::Misscheduled)),
        );
    }
    plan
}

/// The pods beyond one on a node: all but the oldest; when surging, the oldest new pod
/// and the oldest old one may both stay while the old one is ready and the new one not
/// yet available.
fn excess<'a>(active: &[&'a Pod], surge: bool, at: Moment<'_>) -> Vec<&'a Pod> {
    if active.len() <= 1 {
        return Vec::new();
    }
    if !surge {
        return active[1..].to_vec();
    }
    let oldest_new = active.iter().find(|p| is_updated(p, at.hash)).copied();
    let oldest_old = active.iter().find(|p| !is_updated(p, at.hash)).copied();
    let mut extra: Vec<&Pod> = active
        .iter()
        .copied()
        .filter(|p| {
            !oldest_new.is_some_and(|n| std::ptr::eq(n, *p))
                && !oldest_old.is_some_and(|o| std::ptr::eq(o, *p))
        })
        .collect();
    if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
        if !is_ready(old) || at.available(new) {
            extra.push(old);
        }
    }
    extra
}

/// The node's one new and one old pod, if it has at most one of each.
fn split<'a>(active: &[&'a Pod], hash: &str) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let (new, old): (Vec<&Pod>, Vec<&Pod>) = active.iter().partition(|p| is_updated(p, hash));
    (new.len() <= 1 && old.len() <= 1).then(|| (new.first().copied(), old.first().copied()))
}

/// Kubernetes' `rollingUpdate` without surge: old pods deleted (their replacements are
/// created by the next `manage`) while fewer than `max_unavailable` nodes lack an
/// available pod; old pods that are not available anyway go at once.
pub fn roll<'a>(nodes: &[NodePods<'a>], max_unavailable: i32, at: Moment<'_>) -> Plan<'a> {
    let mut unavailable = 0;
    let mut free = Vec::new();
    let mut candidates = Vec::new();
    for node in nodes.iter().filter(|n| n.placement.should_run) {
        match split(&node.active, at.hash) {
            Some((Some(new), None)) => {
                if !at.available(new) {
                    unavailable += 1;
                }
            }
            Some((None, Some(old))) if !at.available(old) => free.push(old),
            Some((None, Some(old))) => candidates.push(old),
            _ => unavailable += 1,
        }
    }
    let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
    let mut plan = Plan::default();
    plan.delete
        .extend(free.into_iter().map(|p| (p, Why::Update)));
    plan.delete
        .extend(candidates.into_iter().take(room).map(|p| (p, Why::Update)));
    plan
}

/// Kubernetes' `rollingUpdate` with surge: a new pod beside the old one on up to
/// `max_surge` nodes at a time (at once where the old pod is unavailable anyway); the old
/// pod deleted once the new one is available.
pub fn surge<'a>(nodes: &[NodePods<'a>], max_surge: i32, at: Moment<'_>) -> Plan<'a> {
    let mut surging = 0;
    let mut plan = Plan::default();
    let mut free = Vec::new();
    let mut candidates = Vec::new();
    for node in nodes.iter().filter(|n| n.placement.should_run) {
        match split(&node.active, at.hash) {
            None => surging += 1,
            Some((_, None)) => {}
            Some((None, Some(old))) if !at.available(old) => free.push(node.node.clone()),
            Some((None, Some(_))) => candidates.push(node.node.clone()),
            Some((Some(new), Some(old))) => {
                if at.available(new) {
                    plan.delete.push((old, Why::Update));
                } else {
                    surging += 1;
                }
            }
        }
    }
    let room = (max_surge - surging).clamp(0, candidates.len() as i32) as usize;
    plan.create.extend(free);
    plan.create.extend(candidates.into_iter().take(room));
    plan
}
