//! What a Job's pods add up to (per index for an Indexed Job, failures as its
//! podFailurePolicy judges them), and the delay Kubernetes puts between a failure and
//! the next pod.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use super::failure_policy::{self, Verdict};
use super::indexed;
use super::per_index::IndexFailures;
use crate::core::objects::{created, is_active, is_ready, phase};

/// First delay after a failed pod; it doubles per failure up to [`MAX_BACKOFF`]
/// (Kubernetes' DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff).
const BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(360);

#[derive(Debug, Default)]
pub struct Counts<'a> {
    pub active: Vec<&'a Pod>,
    /// Active pods an Indexed Job does not want: a second pod of an index, or one whose
    /// index is out of range or already completed. They are deleted.
    pub excess: Vec<&'a Pod>,
    pub ready: i32,
    pub succeeded: i32,
    /// Failures that count toward backoffLimit (not those an Ignore rule matched).
    pub failed: i32,
    /// Container restarts of the active pods (restartPolicy OnFailure: the kubelet
    /// restarts in place, and Kubernetes counts these toward backoffLimit).
    pub restarts: i32,
    /// When the newest counted failure finished.
    pub last_failure: Option<Timestamp>,
    /// Indexed: the completed indexes (those recorded in the status and those of
    /// succeeded pods) and the indexes with an active pod.
    pub indexed: bool,
    pub completed: BTreeSet<i32>,
    pub running: BTreeSet<i32>,
    /// A failed pod matched a FailJob rule of the podFailurePolicy: the message.
    pub fail_job: Option<String>,
    /// With backoffLimitPerIndex: the failures of each index.
    pub per_index: Option<IndexFailures>,
}

impl<'a> Counts<'a> {
    /// The owned pods counted; succeeded and failed never go below what the status
    /// already recorded, so a finished pod deleted by someone still counts.
    pub fn of(job: &Job, owned: &'a [Pod]) -> Counts<'a> {
        let spec = job.spec.as_ref();
        let policy = spec.and_then(|s| s.pod_failure_policy.as_ref());
        let completions = spec.and_then(|s| s.completions).unwrap_or(0);
        let recorded = job.status.as_ref();
        let in_range = |i: &i32| *i < completions;
        let mut counts = Counts {
            indexed: indexed::is_indexed(job),
            per_index: IndexFailures::of(job, completions),
            ..Counts::default()
        };
        if counts.indexed {
            let text = recorded.and_then(|s| s.completed_indexes.as_deref());
            counts.completed = indexed::parse(text.unwrap_or_default());
            counts.completed.retain(in_range);
        }
        let mut active = Vec::new();
        for pod in owned {
            // A counted failure: when, and whether a FailIndex rule matched.
            let mut failure = None;
            let mut fail_index = false;
            match phase(pod) {
                "Succeeded" => {
                    counts.succeeded += 1;
                    if let Some(i) = indexed::index_of(pod).filter(in_range) {
                        counts.completed.insert(i);
                    }
                }
                "Failed" => {
                    let verdict = failure_policy::judge(policy, pod);
                    if let Verdict::FailJob(message) = &verdict {
                        counts.fail_job.get_or_insert_with(|| message.clone());
                    }
                    if verdict != Verdict::Ignore {
                        counts.failed += 1;
                        failure = Some(finished_at(pod));
                        counts.last_failure = counts.last_failure.max(failure);
                    }
                    fail_index = verdict == Verdict::FailIndex;
                }
                _ if is_active(pod) => active.push(pod),
                _ => {}
            }
            let index = indexed::index_of(pod).filter(in_range);
            if let (Some(per_index), Some(i)) = (counts.per_index.as_mut(), index) {
                per_index.record(pod, i, failure, fail_index);
            }
        }
        let index_failed = |i: &i32| {
            counts
                .per_index
                .as_ref()
                .is_some_and(|p| p.failed.contains(i))
        };
        // The oldest pod of an index is the one kept.
        active.sort_by_key(|p| created(&p.metadata));
        for pod in active {
            if counts.indexed {
                let index = indexed::index_of(pod).filter(in_range);
                let wanted = index.filter(|i| !counts.completed.contains(i) && !index_failed(i));
                match wanted {
                    Some(i) if counts.running.insert(i) => {}
                    _ => {
                        counts.excess.push(pod);
                        continue;
                    }
                }
            }
            counts.active.push(pod);
            counts.ready += i32::from(is_ready(pod));
            counts.restarts += restarts(pod);
        }
        if counts.indexed {
            counts.succeeded = counts.completed.len() as i32;
        } else {
            let succeeded = recorded.and_then(|s| s.succeeded).unwrap_or(0);
            counts.succeeded = counts.succeeded.max(succeeded);
        }
        counts.failed = counts
            .failed
            .max(recorded.and_then(|s| s.failed).unwrap_or(0));
        counts
    }

    /// Indexed: the indexes that still need a pod, lowest first.
    pub fn missing_indexes(&self, completions: i32) -> impl Iterator<Item = i32> + '_ {
        let failed = self.per_index.as_ref().map(|p| &p.failed);
        (0..completions).filter(move |i| {
            !self.completed.contains(i)
                && !self.running.contains(i)
                && !failed.is_some_and(|f| f.contains(i))
        })
    }

    /// Indexes failed for good (backoffLimitPerIndex).
    pub fn failed_indexes(&self) -> usize {
        self.per_index.as_ref().map_or(0, |p| p.failed.len())
    }

    /// When the next pod may be created after failures (`None`: now).
    pub fn next_pod_at(&self) -> Option<Timestamp> {
        self.last_failure?
            .checked_add(delay_after(self.failed)?)
            .ok()
    }
}

/// The delay before a new pod after `failures` failures (`None` for none).
pub fn delay_after(failures: i32) -> Option<Duration> {
    if failures <= 0 {
        return None;
    }
    let doublings = (failures - 1).clamp(0, 16) as u32;
    Some(BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF))
}

/// The sum of the pod's containers' restart counts.
fn restarts(pod: &Pod) -> i32 {
    let status = pod.status.as_ref();
    let all = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .chain(status.and_then(|s| s.init_container_statuses.as_ref()));
    all.flatten().map(|c| c.restart_count).sum()
}

/// When a finished pod's last container stopped; its creation when no container says.
fn finished_at(pod: &Pod) -> Timestamp {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max()
        .unwrap_or_else(|| created(&pod.metadata))
}
