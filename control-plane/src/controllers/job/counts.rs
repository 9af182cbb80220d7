//! What a Job's pods add up to, and the delay Kubernetes puts between a failure and
//! the next pod.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use crate::core::objects::{created, is_active, is_ready, phase};

/// First delay after a failed pod; it doubles per failure up to [`MAX_BACKOFF`]
/// (Kubernetes' DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff).
const BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(360);

#[derive(Debug, Default)]
pub struct Counts<'a> {
    pub active: Vec<&'a Pod>,
    pub ready: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// Container restarts of the active pods (restartPolicy OnFailure: the kubelet
    /// restarts in place, and Kubernetes counts these toward backoffLimit).
    pub restarts: i32,
    /// When the newest failed pod finished.
    pub last_failure: Option<Timestamp>,
}

impl<'a> Counts<'a> {
    /// The owned pods counted; succeeded and failed never go below what the status
    /// already recorded, so a finished pod deleted by someone still counts.
    pub fn of(job: &Job, owned: &'a [Pod]) -> Counts<'a> {
        let mut counts = Counts::default();
        for pod in owned {
            match phase(pod) {
                "Succeeded" => counts.succeeded += 1,
                "Failed" => {
                    counts.failed += 1;
                    let at = finished_at(pod);
                    counts.last_failure = counts.last_failure.max(Some(at));
                }
                _ if is_active(pod) => {
                    counts.active.push(pod);
                    counts.ready += i32::from(is_ready(pod));
                    counts.restarts += restarts(pod);
                }
                _ => {}
            }
        }
        let recorded = job.status.as_ref();
        counts.succeeded = counts
            .succeeded
            .max(recorded.and_then(|s| s.succeeded).unwrap_or(0));
        counts.failed = counts
            .failed
            .max(recorded.and_then(|s| s.failed).unwrap_or(0));
        counts
    }

    /// When the next pod may be created after failures (`None`: now).
    pub fn next_pod_at(&self) -> Option<Timestamp> {
        if self.failed == 0 {
            return None;
        }
        let last = self.last_failure?;
        let doublings = (self.failed - 1).clamp(0, 16) as u32;
        let delay = BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF);
        last.checked_add(delay).ok()
    }
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
