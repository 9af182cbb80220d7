//! The CronJob controller: a Job per scheduled time, as Kubernetes' CronJob controller
//! (v2) runs them.
//!
//! One reconcile, from a fresh read of the CronJob and the Jobs it controls:
//! 1. `status.active` follows the Jobs (`status.rs`): finished ones leave it
//!    (`SawCompletedJob`), `lastSuccessfulTime` moves;
//! 2. unless suspended, the due time (`schedule.rs`) is the most recent scheduled time
//!    since `lastScheduleTime` (or creation), and with `startingDeadlineSeconds` only one
//!    inside the deadline (older ones: `MissSchedule`). Missed times are never run as a
//!    backlog: after the control plane was down, only the latest starts
//!    (`TooManyMissedTimes` past 100);
//! 3. a due time not started yet starts a Job named `<cronjob>-<minutes since epoch>`
//!    (`jobs.rs`; a name already taken means it was started), after the
//!    concurrencyPolicy: Allow, Forbid (`JobAlreadyActive`: wait while one runs), Replace
//!    (the active ones deleted first);
//! 4. finished Jobs past `successfulJobsHistoryLimit`/`failedJobsHistoryLimit` are
//!    deleted, oldest first; the status is written and the CronJob requeued at its next
//!    scheduled time.
//!
//! Not done: `@every` schedules (Kubernetes' cron library has them).

mod jobs;
mod schedule;
mod status;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use skiff_proto::cron::{time_zone, Schedule};
use tracing::info;

use super::runtime::{self_or_owner, Action, Reconciler};
use super::ControllerContext;
use crate::core::objects::{self, controller_of, decode, decode_all, is_being_deleted};
use crate::core::Error;
use crate::store::{Event, Key, Store};
pub use jobs::{job_name, SCHEDULED_TIMESTAMP};
use status::Seen;

const COMPONENT: &str = "cronjob-controller";

pub struct CronJobController {
    ctx: Arc<ControllerContext>,
}

impl CronJobController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        CronJobController { ctx }
    }

    fn store(&self) -> &dyn Store {
        self.ctx.store.as_ref()
    }
}

impl Reconciler for CronJobController {
    const NAME: &'static str = "cronjob";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["CronJob"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["CronJob", "Job"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        self_or_owner(event, "CronJob")
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let Some(stored) = self.store().get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let cron_job: CronJob = decode(&stored)?;
        let (jobs, _) = self.store().list("Job", Some(&key.namespace)).await?;
        let uid = cron_job.metadata.uid.clone().unwrap_or_default();
        let owned: Vec<Job> = decode_all::<Job>(&jobs)
            .into_iter()
            .filter(|j| controller_of(&j.metadata).is_some_and(|o| o.uid == uid))
            .collect();
        let mut status = cron_job.status.clone().unwrap_or_default();
        for seen in status::track(&mut status, &owned) {
            match seen {
                Seen::Completed(name, how) => {
                    let message = format!("Saw completed job: {name}, condition: {how}");
                    self.event(&cron_job, "Normal", "SawCompletedJob", &message)
                        .await;
                }
                Seen::Missing(name) => {
                    let message = format!("Active job went missing: {name}");
                    self.event(&cron_job, "Normal", "MissingJob", &message)
                        .await;
                }
            }
        }
        if is_being_deleted(&cron_job.metadata) {
            status::write(self.store(), &cron_job, status).await?;
            return Ok(Action::AwaitChange);
        }
        let now = self.ctx.clock.now_seconds();
        let action = self.run(key, &cron_job, &owned, &mut status, now).await?;
        self.prune(&cron_job, &owned, &status).await?;
        status::write(self.store(), &cron_job, status).await?;
        Ok(action)
    }
}

impl CronJobController {
    /// Steps 2 and 3 of the module doc: starts the due Job if there is one.
    async fn run(
        &self,
        key: &Key,
        cron_job: &CronJob,
        owned: &[Job],
        status: &mut CronJobStatus,
        now: Timestamp,
    ) -> Result<Action, Error> {
        let spec = cron_job.spec.clone().unwrap_or_default();
        let zone = match time_zone(spec.time_zone.as_deref()) {
            Ok(zone) => zone,
            Err(message) => {
                self.event(cron_job, "Warning", "UnknownTimeZone", &message)
                    .await;
                return Ok(Action::AwaitChange);
            }
        };
        if spec.suspend == Some(true) {
            return Ok(Action::AwaitChange);
        }
        let schedule = match Schedule::parse(&spec.schedule) {
            Ok(schedule) => schedule,
            Err(e) => {
                let message = format!("unparseable schedule: {:?} : {e}", spec.schedule);
                self.event(cron_job, "Warning", "UnparseableSchedule", &message)
                    .await;
                return Ok(Action::AwaitChange);
            }
        };
        let next = requeue_at(schedule.next_after(now, &zone), now);
        let since = status
            .last_schedule_time
            .as_ref()
            .map_or_else(|| objects::created(&cron_job.metadata), |t| t.0);
        let deadline = spec.starting_deadline_seconds;
        let window_start = deadline.map_or(since, |d| since.max(schedule::before(now, d)));
        let Some(due) = schedule::most_recent(&schedule, &zone, window_start, now) else {
            if deadline.is_some() {
                if let Some(missed) = schedule::most_recent(&schedule, &zone, since, now) {
                    let message = format!("Missed scheduled time to start a job: {}", missed.time);
                    self.event(cron_job, "Warning", "MissSchedule", &message)
                        .await;
                }
            }
            return Ok(next);
        };
        if due.too_many {
            let message = "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew";
            self.event(cron_job, "Warning", "TooManyMissedTimes", message)
                .await;
        }
        let name = job_name(&key.name, due.time);
        let active = status.active.clone().unwrap_or_default();
        let started = active.iter().any(|r| r.name.as_deref() == Some(&name))
            || status.last_schedule_time.as_ref().map(|t| t.0) == Some(due.time);
        if started {
            // Recorded now if a crash lost the status written with the Job.
            status.last_schedule_time = Some(Time(due.time));
            return Ok(next);
        }
        match spec.concurrency_policy.as_deref() {
            Some("Forbid") if !active.is_empty() => {
                let message = "Not starting job because prior execution is running and concurrency policy is Forbid";
                self.event(cron_job, "Normal", "JobAlreadyActive", message)
                    .await;
                return Ok(next);
            }
            Some("Replace") => {
                for reference in &active {
                    let Some(job) = owned.iter().find(|j| j.metadata.uid == reference.uid) else {
                        continue;
                    };
                    if !jobs::delete(self.ctx.as_ref(), job).await? {
                        continue;
                    }
                    let old = job.metadata.name.clone().unwrap_or_default();
                    info!(cronjob = %key, job = %old, "active job replaced");
                    self.event(
                        cron_job,
                        "Normal",
                        "SuccessfulDelete",
                        &format!("Deleted job {old}"),
                    )
                    .await;
                }
                status.active = None;
            }
            _ => {}
        }
        match jobs::create(self.store(), cron_job, due.time, &zone, now).await? {
            jobs::Created::New(job) => {
                info!(cronjob = %key, job = %name, scheduled = %due.time, "job started");
                self.event(
                    cron_job,
                    "Normal",
                    "SuccessfulCreate",
                    &format!("Created job {name}"),
                )
                .await;
                status
                    .active
                    .get_or_insert_with(Vec::new)
                    .push(status::reference_to(&job));
            }
            jobs::Created::Existing(job) => {
                let ours = controller_of(&job.metadata)
                    .is_some_and(|o| Some(&o.uid) == cron_job.metadata.uid.as_ref());
                let active = status.active.get_or_insert_with(Vec::new);
                if ours
                    && jobs::finished(&job).is_none()
                    && !active.iter().any(|r| r.uid == job.metadata.uid)
                {
                    active.push(status::reference_to(&job));
                }
            }
        }
        status.last_schedule_time = Some(Time(due.time));
        Ok(next)
    }

    /// Step 4: the finished Jobs past the history limits go, oldest first.
    async fn prune(
        &self,
        cron_job: &CronJob,
        owned: &[Job],
        status: &CronJobStatus,
    ) -> Result<(), Error> {
        let spec = cron_job.spec.clone().unwrap_or_default();
        let active = status.active.clone().unwrap_or_default();
        let finished: Vec<&Job> = owned
            .iter()
            .filter(|j| !active.iter().any(|r| r.uid == j.metadata.uid))
            .collect();
        let doomed = jobs::beyond_history(
            &finished,
            spec.successful_jobs_history_limit.unwrap_or(i32::MAX),
            spec.failed_jobs_history_limit.unwrap_or(i32::MAX),
        );
        for job in doomed {
            if jobs::delete(self.ctx.as_ref(), job).await? {
                let name = job.metadata.name.clone().unwrap_or_default();
                info!(job = %name, "finished job deleted: history limit");
                self.event(
                    cron_job,
                    "Normal",
                    "SuccessfulDelete",
                    &format!("Deleted job {name}"),
                )
                .await;
            }
        }
        Ok(())
    }

    /// An event on the CronJob, for `describe cronjob`.
    async fn event(&self, cron_job: &CronJob, type_: &str, reason: &str, message: &str) {
        self.ctx
            .event_on(
                ("CronJob", &cron_job.metadata),
                (type_, reason),
                message,
                COMPONENT,
            )
            .await;
    }
}

/// A requeue just after `next` (the next scheduled time), or none without one.
fn requeue_at(next: Option<Timestamp>, now: Timestamp) -> Action {
    match next {
        Some(at) => {
            Action::Requeue(crate::core::clock::elapsed(at, now) + Duration::from_millis(100))
        }
        None => Action::AwaitChange,
    }
}
