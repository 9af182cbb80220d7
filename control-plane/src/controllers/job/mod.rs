//! The Job controller: runs pods to `completions` successes, at most `parallelism` at
//! once, and gives up after `backoffLimit` failures, `activeDeadlineSeconds`, or a
//! failure its podFailurePolicy calls fatal.
//!
//! One reconcile, from a fresh read of the Job and the pods it controls (its uid in the
//! pods' controller reference; the API server gave it the `controller-uid` selector
//! unless the user's is `manualSelector`):
//! 1. a finished Job (Complete or Failed) only waits for `ttlSecondsAfterFinished`, then
//!    is deleted (the garbage collector takes its pods);
//! 2. count pods (`counts.rs`): active, ready, succeeded, failed as the podFailurePolicy
//!    judges them (`failure_policy.rs`: Ignore does not count, FailJob ends the Job),
//!    with restartPolicy OnFailure the container restarts, which Kubernetes counts
//!    toward backoffLimit, and for `completionMode: Indexed` the completed indexes and
//!    the index of each active pod (`indexed.rs`);
//! 3. decide: Failed (PodFailurePolicy, BackoffLimitExceeded or DeadlineExceeded),
//!    deleting the active pods; Complete once enough pods (or every index) succeeded;
//!    suspended: active pods deleted and condition Suspended (a resume restarts
//!    `startTime`, so the deadline counts from it); else create pods (`pods.rs`) up to
//!    `min(parallelism, completions - succeeded)`, one per missing index for an Indexed
//!    Job (deleting a second pod of an index), waiting out Kubernetes' growing delay
//!    after failures (10 s doubling per failure, at most 6 min);
//! 4. write the status (`status.rs`, with `completedIndexes`) and requeue at the next
//!    deadline.
//!
//! With `backoffLimitPerIndex`, failures are counted and delayed per index
//! (`per_index.rs`), and the Job fails once every index is done and some failed
//! (FailedIndexes), or more than `maxFailedIndexes` failed.
//!
//! Not done yet: pod failure tracking with finalizers (a failed pod deleted before it
//! was counted is missed), successPolicy.

mod counts;
mod failure_policy;
mod indexed;
mod per_index;
mod pods;
mod status;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tracing::info;

use super::runtime::{self_or_owner, Action, Reconciler};
use super::ControllerContext;
use crate::core::objects::{controller_of, decode, decode_all, is_being_deleted};
use crate::core::Error;
use crate::store::{Event, Key, Store};
use counts::Counts;

/// Pods created by one reconcile at most; the next reconcile does the rest.
const BURST: usize = 500;
const COMPONENT: &str = "job-controller";

pub struct JobController {
    ctx: Arc<ControllerContext>,
}

impl JobController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        JobController { ctx }
    }

    fn store(&self) -> &dyn Store {
        self.ctx.store.as_ref()
    }
}

impl Reconciler for JobController {
    const NAME: &'static str = "job";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Job"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Job", "Pod"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        self_or_owner(event, "Job")
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let Some(stored) = self.store().get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let job: Job = decode(&stored)?;
        if is_being_deleted(&job.metadata) {
            return Ok(Action::AwaitChange);
        }
        let now = self.ctx.clock.now_seconds();
        if let Some(finished) = status::finished_at(&job) {
            return self.expire(key, &job, finished, now).await;
        }
        let (pods, _) = self.store().list("Pod", Some(&key.namespace)).await?;
        let pods: Vec<Pod> = decode_all(&pods);
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let owned: Vec<Pod> = pods
            .into_iter()
            .filter(|p| controller_of(&p.metadata).is_some_and(|o| o.uid == uid))
            .collect();
        let counts = Counts::of(&job, &owned);
        self.step(key, &job, &counts, now).await
    }
}

impl JobController {
    /// Steps 3 and 4 of the module doc for a Job not finished yet.
    async fn step(
        &self,
        key: &Key,
        job: &Job,
        counts: &Counts<'_>,
        now: Timestamp,
    ) -> Result<Action, Error> {
        let spec = job.spec.clone().unwrap_or_default();
        let suspended = spec.suspend == Some(true);
        let mut status = job.status.clone().unwrap_or_default();
        let mut action = Action::AwaitChange;
        let resuming = !suspended && status::true_condition(job, "Suspended").is_some();
        if resuming || (!suspended && status.start_time.is_none()) {
            // activeDeadlineSeconds counts from the (last) resume.
            status.start_time = Some(Time(now));
        }
        let started = status.start_time.as_ref().map(|t| t.0);
        let backoff_limit = spec.backoff_limit.unwrap_or(6);
        let on_failure = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            == Some("OnFailure");
        let restarts_exceeded = on_failure
            && if backoff_limit == 0 {
                counts.restarts > 0
            } else {
                counts.restarts >= backoff_limit
            };
        let deadline = spec
            .active_deadline_seconds
            .filter(|_| !suspended)
            .zip(started)
            .and_then(|(secs, start)| {
                start
                    .checked_add(Duration::from_secs(secs.max(0) as u64))
                    .ok()
            });
        let done = match spec.completions {
            Some(n) => counts.succeeded >= n,
            None => counts.succeeded > 0 && counts.active.is_empty(),
        };
        let mut active = counts.active.len() as i32;
        // Kubernetes' order: the failures first, then success.
        let failed_indexes = counts.failed_indexes() as i32;
        let completions = spec.completions.unwrap_or(0);
        let failure = if let Some(message) = &counts.fail_job {
            Some(("PodFailurePolicy", message.as_str()))
        } else if counts.failed > backoff_limit || restarts_exceeded {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else if deadline.is_some_and(|d| d <= now) {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else if spec.max_failed_indexes.is_some_and(|m| failed_indexes > m) {
            Some((
                "MaxFailedIndexesExceeded",
                "Job has exceeded the specified maximal number of failed indexes",
            ))
        } else if failed_indexes > 0 && counts.succeeded + failed_indexes >= completions {
            Some(("FailedIndexes", "Job has failed indexes"))
        } else {
            None
        };
        if let Some(reason) = failure {
            active -= self
                .fail(key, job, counts, &mut status, reason, now)
                .await?;
        } else if done {
            // Pods still running once enough succeeded are not needed any more.
            active -= self.delete_pods(key, job, &counts.active).await?;
            self.delete_pods(key, job, &counts.excess).await?;
            status::set_condition(
                &mut status,
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                now,
            );
            status.completion_time = Some(Time(now));
            info!(job = %key, "job complete");
            self.event(job, "Normal", "Completed", "Job completed")
                .await;
        } else if suspended {
            active -= self.delete_pods(key, job, &counts.active).await?;
            let newly = status::true_condition(job, "Suspended").is_none();
            status::set_condition(
                &mut status,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            );
            if newly {
                self.event(job, "Normal", "Suspended", "Job suspended")
                    .await;
            }
        } else {
            if resuming {
                status::set_condition(
                    &mut status,
                    "Suspended",
                    "False",
                    "JobResumed",
                    "Job resumed",
                    now,
                );
                self.event(job, "Normal", "Resumed", "Job resumed").await;
            }
            self.delete_pods(key, job, &counts.excess).await?;
            let parallelism = spec.parallelism.unwrap_or(1).max(0);
            let wanted = match spec.completions {
                Some(n) => parallelism
                    .min(n - counts.succeeded - failed_indexes)
                    .max(0),
                None if counts.succeeded > 0 => 0,
                None => parallelism,
            };
            if active < wanted {
                let missing = ((wanted - active) as usize).min(BURST);
                let (created, next_pod_at) =
                    self.create_missing(key, job, counts, missing, now).await?;
                active += created as i32;
                if let Some(at) = next_pod_at {
                    action = sooner(action, at, now);
                }
            }
            if let Some(d) = deadline {
                action = sooner(action, d, now);
            }
        }
        status::counted(&mut status, counts, active);
        status::write(self.store(), job, status).await?;
        Ok(action)
    }

    /// Marks the Job Failed for `reason` and deletes its active pods; how many went.
    async fn fail(
        &self,
        key: &Key,
        job: &Job,
        counts: &Counts<'_>,
        status: &mut JobStatus,
        (reason, message): (&str, &str),
        now: Timestamp,
    ) -> Result<i32, Error> {
        let deleted = self.delete_pods(key, job, &counts.active).await?;
        self.delete_pods(key, job, &counts.excess).await?;
        status::set_condition(status, "Failed", "True", reason, message, now);
        info!(job = %key, failed = counts.failed, reason, "job failed");
        self.event(job, "Warning", reason, message).await;
        Ok(deleted)
    }

    /// A finished Job: deleted `ttlSecondsAfterFinished` after it finished.
    async fn expire(
        &self,
        key: &Key,
        job: &Job,
        finished: Timestamp,
        now: Timestamp,
    ) -> Result<Action, Error> {
        let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
            return Ok(Action::AwaitChange);
        };
        let due = finished
            .checked_add(Duration::from_secs(ttl.max(0) as u64))
            .unwrap_or(finished);
        if due > now {
            return Ok(sooner(Action::AwaitChange, due, now));
        }
        let uid = job.metadata.uid.clone().unwrap_or_default();
        if super::deleted(self.ctx.as_ref(), key, &uid).await? {
            info!(job = %key, "finished job deleted: ttlSecondsAfterFinished");
        }
        Ok(Action::AwaitChange)
    }
}

/// `action`, or a requeue at `at` if that comes sooner.
fn sooner(action: Action, at: Timestamp, now: Timestamp) -> Action {
    let wait = crate::core::clock::elapsed(at, now) + Duration::from_millis(100);
    match action {
        Action::Requeue(d) => Action::Requeue(d.min(wait)),
        Action::AwaitChange => Action::Requeue(wait),
    }
}
