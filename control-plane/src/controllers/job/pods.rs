//! The Job's writes to its pods: creating them (one per missing index for an Indexed
//! Job) and deleting active ones, each with the event `describe job` shows.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use tracing::info;

use super::counts::Counts;
use super::{indexed, JobController, COMPONENT};
use crate::controllers::owned_pods;
use crate::core::Error;
use crate::store::Key;

impl JobController {
    /// Creates up to `missing` pods once failures' delays have passed: the Job's delay,
    /// or with backoffLimitPerIndex each index's own. How many were created, and when
    /// the next may be if some had to wait.
    pub(super) async fn create_missing(
        &self,
        key: &Key,
        job: &Job,
        counts: &Counts<'_>,
        missing: usize,
        now: Timestamp,
    ) -> Result<(usize, Option<Timestamp>), Error> {
        let completions = job.spec.as_ref().and_then(|s| s.completions).unwrap_or(0);
        let Some(per_index) = &counts.per_index else {
            if let Some(at) = counts.next_pod_at().filter(|at| *at > now) {
                return Ok((0, Some(at)));
            }
            let indexes: Vec<i32> = match counts.indexed {
                true => counts.missing_indexes(completions).take(missing).collect(),
                false => Vec::new(),
            };
            let created = self
                .create_pods(key, job, missing, &indexes, counts)
                .await?;
            return Ok((created, None));
        };
        let mut due = Vec::new();
        let mut next_pod_at: Option<Timestamp> = None;
        for i in counts.missing_indexes(completions) {
            match per_index.next_pod_at(i).filter(|at| *at > now) {
                Some(at) => next_pod_at = Some(next_pod_at.map_or(at, |n| n.min(at))),
                None => due.push(i),
            }
        }
        let created = self.create_pods(key, job, missing, &due, counts).await?;
        Ok((created, next_pod_at))
    }

    /// Creates `count` pods (for an Indexed Job: for the first `count` of `indexes`,
    /// each told its index's failures so far); how many.
    async fn create_pods(
        &self,
        key: &Key,
        job: &Job,
        count: usize,
        indexes: &[i32],
        counts: &Counts<'_>,
    ) -> Result<usize, Error> {
        let plain = || {
            let template = job.spec.as_ref().map(|s| s.template.clone());
            let prefix = format!("{}-", job.metadata.name.as_deref().unwrap_or_default());
            (template.unwrap_or_default(), prefix)
        };
        let pods: Vec<_> = if indexed::is_indexed(job) {
            let failures = |i: &i32| {
                let per_index = counts.per_index.as_ref()?;
                Some(per_index.counts.get(i).copied().unwrap_or(0))
            };
            indexes
                .iter()
                .take(count)
                .map(|i| {
                    let template = indexed::template_for(job, *i, failures(i));
                    (template, indexed::name_prefix(job, *i))
                })
                .collect()
        } else {
            (0..count).map(|_| plain()).collect()
        };
        let created = pods.len();
        for (template, prefix) in pods {
            let name = owned_pods::create_prefixed(
                self.store(),
                self.ctx.clock.now_seconds(),
                "Job",
                &job.metadata,
                template,
                &prefix,
            )
            .await?;
            let message = format!("Created pod: {name}");
            self.event(job, "Normal", "SuccessfulCreate", &message)
                .await;
        }
        if created > 0 {
            info!(job = %key, created, "pods created");
        }
        Ok(created)
    }

    /// Deletes `pods` (active ones); how many.
    pub(super) async fn delete_pods(
        &self,
        key: &Key,
        job: &Job,
        pods: &[&Pod],
    ) -> Result<i32, Error> {
        let mut deleted = 0;
        for pod in pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let pod_key = Key::new("Pod", &key.namespace, &name);
            let uid = pod.metadata.uid.as_deref().unwrap_or_default();
            if super::super::deleted(self.ctx.as_ref(), &pod_key, uid).await? {
                let message = format!("Deleted pod: {name}");
                self.event(job, "Normal", "SuccessfulDelete", &message)
                    .await;
            }
            deleted += 1;
        }
        Ok(deleted)
    }

    /// An event on the Job, for `describe job`.
    pub(super) async fn event(&self, job: &Job, type_: &str, reason: &str, message: &str) {
        self.ctx
            .event_on(("Job", &job.metadata), (type_, reason), message, COMPONENT)
            .await;
    }
}
