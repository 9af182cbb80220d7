//! The CronJob controller on the manual clock: a Job per scheduled time, the
//! concurrency policies, suspend, history limits, startingDeadlineSeconds, a restart after
//! hours down, and time zones. The Job controller's part (finishing Jobs) is written by
//! hand, so each test shows only what the CronJob controller does.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;

use super::*;
use crate::controllers::runtime::Action;
use crate::controllers::CronJobController;

/// `hello`; SCHEDULE and FIELDS (more of its spec) are spliced in.
const CRON_JOB: &str = "apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: 'SCHEDULE'
  FIELDS
  jobTemplate:
    metadata:
      labels: {app: hello}
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: c
            image: busybox
            command: [echo, hello]
";

/// The harness's store and clock (2027-01-15T08:00:00Z, on a minute) with a CronJob
/// controller over them.
struct Cron {
    h: Harness,
    cron_jobs: CronJobController,
}

impl Cron {
    /// `hello` every minute, with `fields`.
    async fn new(fields: &str) -> Cron {
        Cron::scheduled("* * * * *", fields).await
    }

    async fn scheduled(schedule: &str, fields: &str) -> Cron {
        let h = Harness::new().await;
        let cron = Cron {
            cron_jobs: controller(&h),
            h,
        };
        cron.apply_scheduled(schedule, fields).await;
        cron
    }

    /// Applies `hello` every minute with `fields`, now on the manual clock.
    async fn apply(&self, fields: &str) {
        self.apply_scheduled("* * * * *", fields).await;
    }

    async fn apply_scheduled(&self, schedule: &str, fields: &str) {
        let manifest = CRON_JOB
            .replace("SCHEDULE", schedule)
            .replace("FIELDS", fields);
        crate::resources::apply(
            self.h.store.as_ref(),
            &self.h.clock,
            "cj.yaml",
            &manifest,
            "",
        )
        .await
        .unwrap();
    }

    /// Moves the clock and reconciles `hello` as its requeue (or a Job's change) would.
    async fn advance(&self, seconds: u64) -> Action {
        self.h.clock.advance(Duration::from_secs(seconds));
        self.reconcile().await
    }

    /// Reconciles `hello` until its status stops changing; the last action.
    async fn reconcile(&self) -> Action {
        let key = Key::new("CronJob", "default", "hello");
        for _ in 0..5 {
            let before = self.cron_job().await.status;
            let action = self.cron_jobs.reconcile(&key).await.unwrap();
            if self.cron_job().await.status == before {
                return action;
            }
        }
        panic!("the cron job's status never settled");
    }

    async fn cron_job(&self) -> CronJob {
        self.h
            .get("CronJob", "hello")
            .await
            .expect("the cron job exists")
    }

    /// The Jobs, oldest scheduled time first.
    async fn jobs(&self) -> Vec<Job> {
        let (items, _) = self.h.store.list("Job", Some("default")).await.unwrap();
        let mut jobs: Vec<Job> = decode_all(&items);
        jobs.sort_by_key(|j| j.metadata.name.clone());
        jobs
    }

    async fn job_names(&self) -> Vec<String> {
        self.jobs()
            .await
            .into_iter()
            .filter_map(|j| j.metadata.name)
            .collect()
    }

    /// The Job controller's part: the Job ends with condition `how` (Complete or Failed).
    async fn finish(&self, name: &str, how: &str) {
        let stored = self
            .h
            .store
            .get(&Key::new("Job", "default", name))
            .await
            .unwrap()
            .expect("the job exists");
        let now = self.h.clock.now_string();
        let mut status = json!({
            "startTime": now,
            "conditions": [{"type": how, "status": "True", "lastTransitionTime": now}],
        });
        if how == "Complete" {
            status["completionTime"] = json!(now);
            status["succeeded"] = json!(1);
        }
        self.h.write_status(stored, status).await;
    }

    /// The messages of the CronJob's events with `reason`.
    async fn events(&self, reason: &str) -> Vec<String> {
        let (items, _) = self.h.store.list("Event", Some("default")).await.unwrap();
        decode_all::<Event>(&items)
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some("hello"))
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter_map(|e| e.message)
            .collect()
    }

    fn minutes_from_start(&self, minutes: i64) -> String {
        format!("hello-{}", 30_000_000 + minutes)
    }
}

fn controller(h: &Harness) -> CronJobController {
    CronJobController::new(Arc::new(ControllerContext {
        store: h.store.clone(),
        clock: Arc::new(h.clock.clone()),
    }))
}

fn active_names(cron_job: &CronJob) -> Vec<String> {
    cron_job
        .status
        .as_ref()
        .and_then(|s| s.active.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.name)
        .collect()
}

fn requeued_within(action: Action, low: u64, high: u64) -> bool {
    matches!(action, Action::Requeue(d) if d >= Duration::from_secs(low) && d <= Duration::from_secs(high))
}

#[tokio::test]
async fn a_job_per_minute_named_for_its_scheduled_time() {
    let c = Cron::new("").await;
    let action = c.reconcile().await;
    assert!(c.jobs().await.is_empty(), "nothing is due at creation");
    assert!(requeued_within(action, 59, 61), "{action:?}");

    let action = c.advance(60).await;
    assert!(requeued_within(action, 59, 61), "{action:?}");
    let jobs = c.jobs().await;
    assert_eq!(c.job_names().await, [c.minutes_from_start(1)]);
    let job = &jobs[0];
    let cron_job = c.cron_job().await;
    assert_eq!(owner_name(&job.metadata).as_deref(), Some("hello"));
    assert_eq!(
        controller_of(&job.metadata).map(|o| o.uid.clone()),
        cron_job.metadata.uid.clone()
    );
    let labels = job.metadata.labels.clone().unwrap();
    assert_eq!(labels["app"], "hello");
    let annotations = job.metadata.annotations.clone().unwrap();
    assert_eq!(
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        "2027-01-15T08:01:00Z"
    );
    let template_labels = job
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap();
    assert_eq!(
        template_labels.labels.as_ref().unwrap()["batch.kubernetes.io/controller-uid"],
        job.metadata.uid.clone().unwrap()
    );
    let status = cron_job.status.clone().unwrap();
    assert_eq!(active_names(&cron_job), [c.minutes_from_start(1)]);
    assert_eq!(
        status.last_schedule_time.unwrap().0.to_string(),
        "2027-01-15T08:01:00Z"
    );
    assert_eq!(
        c.events("SuccessfulCreate").await,
        [format!("Created job {}", c.minutes_from_start(1))]
    );

    // Allow: the next minute starts another while the first still runs.
    c.advance(60).await;
    assert_eq!(active_names(&c.cron_job().await).len(), 2);
    // A finished Job leaves `active`, and its completion is the last success.
    c.finish(&c.minutes_from_start(1), "Complete").await;
    let cron_job = c.cron_job().await;
    c.reconcile().await;
    let after = c.cron_job().await;
    assert_ne!(cron_job.status, after.status);
    assert_eq!(active_names(&after), [c.minutes_from_start(2)]);
    assert!(after.status.unwrap().last_successful_time.is_some());
    assert_eq!(
        c.events("SawCompletedJob").await,
        [format!(
            "Saw completed job: {}, condition: Complete",
            c.minutes_from_start(1)
        )]
    );
}

#[tokio::test]
async fn forbid_waits_while_a_job_is_active() {
    let c = Cron::new("concurrencyPolicy: Forbid").await;
    c.advance(60).await;
    c.advance(60).await;
    c.advance(60).await;
    assert_eq!(c.job_names().await, [c.minutes_from_start(1)]);
    assert_eq!(
        c.events("JobAlreadyActive").await,
        ["Not starting job because prior execution is running and concurrency policy is Forbid"]
    );
    // Once it finished, only the latest missed time starts (as Kubernetes does).
    c.finish(&c.minutes_from_start(1), "Complete").await;
    c.reconcile().await;
    assert_eq!(
        c.job_names().await,
        [c.minutes_from_start(1), c.minutes_from_start(3)]
    );
}

#[tokio::test]
async fn replace_deletes_the_active_job_for_the_new_one() {
    let c = Cron::new("concurrencyPolicy: Replace").await;
    c.advance(60).await;
    c.advance(60).await;
    assert_eq!(c.job_names().await, [c.minutes_from_start(2)]);
    assert_eq!(active_names(&c.cron_job().await), [c.minutes_from_start(2)]);
    assert_eq!(
        c.events("SuccessfulDelete").await,
        [format!("Deleted job {}", c.minutes_from_start(1))]
    );
}

#[tokio::test]
async fn a_suspended_cron_job_starts_nothing_until_resumed() {
    let c = Cron::new("suspend: true").await;
    let action = c.advance(60).await;
    assert_eq!(action, Action::AwaitChange);
    c.advance(120).await;
    assert!(c.jobs().await.is_empty());
    c.apply("suspend: false").await;
    c.reconcile().await;
    // Resumed at minute 3: the latest missed time runs, not the backlog.
    assert_eq!(c.job_names().await, [c.minutes_from_start(3)]);
}

#[tokio::test]
async fn history_limits_keep_the_newest_finished_jobs() {
    let c = Cron::new("successfulJobsHistoryLimit: 2\n  failedJobsHistoryLimit: 1").await;
    for minute in 1..=4 {
        c.advance(60).await;
        c.finish(&c.minutes_from_start(minute), "Complete").await;
    }
    for minute in 5..=6 {
        c.advance(60).await;
        c.finish(&c.minutes_from_start(minute), "Failed").await;
    }
    c.reconcile().await;
    assert_eq!(
        c.job_names().await,
        [
            c.minutes_from_start(3),
            c.minutes_from_start(4),
            c.minutes_from_start(6)
        ]
    );
    assert_eq!(c.events("SuccessfulDelete").await.len(), 3);
}

#[tokio::test]
async fn a_run_past_its_starting_deadline_is_skipped() {
    let c = Cron::new("startingDeadlineSeconds: 30").await;
    // Reconciled 45 s after minute 1: too late for it.
    c.advance(105).await;
    assert!(c.jobs().await.is_empty());
    assert_eq!(
        c.events("MissSchedule").await,
        ["Missed scheduled time to start a job: 2027-01-15T08:01:00Z"]
    );
    // Minute 2, reconciled 15 s late: inside the deadline.
    c.advance(30).await;
    assert_eq!(c.job_names().await, [c.minutes_from_start(2)]);
}

#[tokio::test]
async fn after_hours_down_only_the_latest_missed_time_starts() {
    let c = Cron::new("").await;
    c.advance(60).await;
    c.finish(&c.minutes_from_start(1), "Complete").await;
    c.reconcile().await;
    // The control plane was down for five hours; a new controller over the same store.
    c.h.clock.advance(Duration::from_secs(5 * 3600 + 20));
    let restarted = Cron {
        cron_jobs: controller(&c.h),
        h: c.h,
    };
    restarted.reconcile().await;
    assert_eq!(
        restarted.job_names().await,
        [
            restarted.minutes_from_start(1),
            restarted.minutes_from_start(301)
        ]
    );
    assert_eq!(restarted.events("TooManyMissedTimes").await.len(), 1);
}

#[tokio::test]
async fn the_time_zone_decides_when_runs_happen() {
    // 09:00 daily: 09:00 UTC is in one hour; 09:00 in Tokyo (UTC+9) is 00:00 UTC tomorrow.
    let c = Cron::scheduled("0 9 * * *", "timeZone: Asia/Tokyo").await;
    let action = c.reconcile().await;
    assert!(
        requeued_within(action, 16 * 3600, 16 * 3600 + 1),
        "{action:?}"
    );
    c.advance(3600 + 1).await;
    assert!(c.jobs().await.is_empty(), "09:00 UTC is not 09:00 in Tokyo");
    c.advance(15 * 3600).await;
    let jobs = c.jobs().await;
    assert_eq!(jobs.len(), 1);
    let annotations = jobs[0].metadata.annotations.clone().unwrap();
    assert_eq!(
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        "2027-01-16T09:00:00+09:00"
    );
    // The same schedule without a zone runs at 09:00 UTC, 9 hours from now.
    c.apply_scheduled("0 9 * * *", "").await;
    let action = c.reconcile().await;
    assert!(
        requeued_within(action, 9 * 3600 - 2, 9 * 3600),
        "{action:?}"
    );
}

#[tokio::test]
async fn a_job_created_but_not_recorded_is_found_again_not_doubled() {
    let c = Cron::new("").await;
    c.advance(60).await;
    // A crash between creating the Job and writing the status: the status is lost.
    let stored =
        c.h.store
            .get(&Key::new("CronJob", "default", "hello"))
            .await
            .unwrap()
            .unwrap();
    c.h.write_status(stored, json!({})).await;
    c.reconcile().await;
    assert_eq!(c.job_names().await, [c.minutes_from_start(1)]);
    let cron_job = c.cron_job().await;
    assert_eq!(active_names(&cron_job), [c.minutes_from_start(1)]);
    assert!(cron_job.status.unwrap().last_schedule_time.is_some());
    assert_eq!(c.events("SuccessfulCreate").await.len(), 1);
    // A Job deleted behind the controller's back leaves `active`.
    c.h.delete("Job", &c.minutes_from_start(1), "Background")
        .await;
    c.reconcile().await;
    assert!(active_names(&c.cron_job().await).is_empty());
    assert_eq!(
        c.events("MissingJob").await,
        [format!(
            "Active job went missing: {}",
            c.minutes_from_start(1)
        )]
    );
}
