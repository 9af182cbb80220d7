//! `backoffLimitPerIndex`: an Indexed Job's failures counted per index. Each pod carries
//! how often its index failed before it (the `job-index-failure-count` annotation, as
//! Kubernetes writes it), so the count survives the failed pods' deletion; an index
//! that fails more often than the limit, or whose pod matched a FailIndex rule, is
//! failed for good (`status.failedIndexes`) and gets no more pods.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use super::counts::delay_after;
use super::indexed;

pub const FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";

#[derive(Debug, Default)]
pub struct IndexFailures {
    limit: i32,
    /// Failures of each index so far: what its next pod's annotation says.
    pub counts: BTreeMap<i32, i32>,
    /// When each index last failed.
    last: BTreeMap<i32, Timestamp>,
    /// Indexes failed for good.
    pub failed: BTreeSet<i32>,
}

impl IndexFailures {
    /// For a Job with `backoffLimitPerIndex`: its recorded failed indexes below
    /// `completions`, to which [`record`](Self::record) adds.
    pub fn of(job: &Job, completions: i32) -> Option<IndexFailures> {
        let limit = job.spec.as_ref()?.backoff_limit_per_index?;
        let recorded = job
            .status
            .as_ref()
            .and_then(|s| s.failed_indexes.as_deref());
        let mut failed = indexed::parse(recorded.unwrap_or_default());
        failed.retain(|i| *i < completions);
        Some(IndexFailures {
            limit,
            failed,
            ..Default::default()
        })
    }

    /// Takes in a pod of `index`: `failure` is when it failed, if it failed in a way
    /// that counts; `fail_index`, whether a FailIndex rule matched it.
    pub fn record(&mut self, pod: &Pod, index: i32, failure: Option<Timestamp>, fail_index: bool) {
        let before: i32 = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(FAILURE_COUNT))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let failures = before + i32::from(failure.is_some());
        let count = self.counts.entry(index).or_default();
        *count = (*count).max(failures);
        if let Some(at) = failure {
            let last = self.last.entry(index).or_insert(at);
            *last = (*last).max(at);
            if fail_index || failures > self.limit {
                self.failed.insert(index);
            }
        }
    }

    /// When `index` may get its next pod after its failures (`None`: now).
    pub fn next_pod_at(&self, index: i32) -> Option<Timestamp> {
        let failures = *self.counts.get(&index)?;
        let last = *self.last.get(&index)?;
        last.checked_add(delay_after(failures)?).ok()
    }
}
