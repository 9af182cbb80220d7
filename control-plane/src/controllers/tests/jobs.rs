//! The Job controller: completions with parallelism, backoffLimit and its delays,
//! OnFailure restarts, activeDeadlineSeconds, suspend, ttlSecondsAfterFinished.

use k8s_openapi::api::batch::v1::Job;

use super::*;
use crate::core::objects::is_active;

pub(super) const JOB: &str = "apiVersion: batch/v1
kind: Job
metadata:
  name: work
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        command: [sh, -c, echo done]
";

/// The kubelet's part: every active pod ends in `phase` now.
pub(super) async fn finish_active(h: &Harness, phase: &str) {
    let now = h.clock.now_string();
    for stored in h.store.list("Pod", None).await.unwrap().0 {
        let pod: Pod = decode(&stored).unwrap();
        if !is_active(&pod) {
            continue;
        }
        let code = if phase == "Succeeded" { 0 } else { 1 };
        let status = json!({
            "phase": phase,
            "containerStatuses": [{
                "name": "c", "image": "busybox", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": code, "finishedAt": now}},
            }],
        });
        h.write_status(stored, status).await;
    }
}

pub(super) async fn job(h: &Harness) -> Job {
    h.get("Job", "work").await.expect("the job exists")
}

pub(super) fn condition(job: &Job, type_: &str) -> Option<(String, String)> {
    let c = job
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone().unwrap_or_default()))
}

pub(super) fn assert_condition(job: &Job, type_: &str, status: &str, reason: &str) {
    assert_eq!(
        condition(job, type_),
        Some((status.to_string(), reason.to_string())),
        "{type_} of {:?}",
        job.status
    );
}

pub(super) fn active_count(pods: &[Pod]) -> usize {
    pods.iter().filter(|p| is_active(p)).count()
}

#[tokio::test]
async fn completions_run_parallelism_pods_at_a_time_until_enough_succeed() {
    let h = Harness::new().await;
    h.apply(JOB).await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 2, "parallelism 2");
    let job_now = job(&h).await;
    let uid = job_now.metadata.uid.clone().unwrap();
    for pod in &pods {
        assert!(pod.metadata.name.as_deref().unwrap().starts_with("work-"));
        assert_eq!(owner_name(&pod.metadata).as_deref(), Some("work"));
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid);
        assert_eq!(labels["job-name"], "work");
    }
    let status = job_now.status.unwrap();
    assert_eq!(status.active, Some(2));
    assert!(status.start_time.is_some());

    finish_active(&h, "Succeeded").await;
    h.settle().await;
    // Two done, one to go: one new pod, never more than the remaining completion.
    let pods = h.pods().await;
    assert_eq!((pods.len(), active_count(&pods)), (3, 1));
    assert_eq!(condition(&job(&h).await, "Complete"), None);

    finish_active(&h, "Succeeded").await;
    h.settle().await;
    let done = job(&h).await;
    assert_condition(&done, "Complete", "True", "CompletionsReached");
    let status = done.status.unwrap();
    assert_eq!((status.succeeded, status.active), (Some(3), None));
    assert!(status.completion_time.is_some());
    assert_eq!(h.pods().await.len(), 3);
}

#[tokio::test]
async fn a_failing_job_stops_at_backoff_limit_plus_one_pods_with_growing_delays() {
    let h = Harness::new().await;
    h.apply(&JOB.replace("completions: 3\n  parallelism: 2", "backoffLimit: 2"))
        .await;
    h.settle().await;
    for (failures, delay) in [(1, 10), (2, 20)] {
        finish_active(&h, "Failed").await;
        h.settle().await;
        // No replacement before the delay; the reconcile asks to run again at its end.
        assert_eq!(h.pods().await.len(), failures);
        let action = h
            .jobs
            .reconcile(&Key::new("Job", "default", "work"))
            .await
            .unwrap();
        assert!(
            matches!(action, super::super::Action::Requeue(d) if d > Duration::from_secs(delay - 1) && d <= Duration::from_secs(delay + 1)),
            "{action:?} after {failures} failures"
        );
        h.clock.advance(Duration::from_secs(delay - 2));
        h.settle().await;
        assert_eq!(h.pods().await.len(), failures);
        h.clock.advance(Duration::from_secs(3));
        h.settle().await;
        assert_eq!(h.pods().await.len(), failures + 1);
    }
    finish_active(&h, "Failed").await;
    h.settle().await;
    h.clock.advance(Duration::from_secs(600));
    h.settle().await;
    let failed = job(&h).await;
    assert_condition(&failed, "Failed", "True", "BackoffLimitExceeded");
    assert_eq!(failed.status.unwrap().failed, Some(3));
    assert_eq!(h.pods().await.len(), 3, "backoffLimit + 1 pods, no more");
}

#[tokio::test]
async fn on_failure_container_restarts_count_toward_the_backoff_limit() {
    let h = Harness::new().await;
    h.apply(
        &JOB.replace("completions: 3\n  parallelism: 2", "backoffLimit: 2")
            .replace("Never", "OnFailure"),
    )
    .await;
    h.settle().await;
    let stored = h.store.list("Pod", None).await.unwrap().0.remove(0);
    let status = json!({"phase": "Running", "containerStatuses": [{
        "name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 2,
    }]});
    h.write_status(stored, status).await;
    h.settle().await;
    assert_condition(&job(&h).await, "Failed", "True", "BackoffLimitExceeded");
    assert!(h.pods().await.is_empty(), "the active pod is deleted");
}

#[tokio::test]
async fn active_deadline_fails_the_job_and_deletes_its_pods() {
    let h = Harness::new().await;
    h.apply(&JOB.replace(
        "parallelism: 2",
        "parallelism: 2\n  activeDeadlineSeconds: 30",
    ))
    .await;
    h.settle().await;
    assert_eq!(h.pods().await.len(), 2);
    h.clock.advance(Duration::from_secs(29));
    h.settle().await;
    assert_eq!(condition(&job(&h).await, "Failed"), None);
    h.clock.advance(Duration::from_secs(2));
    h.settle().await;
    assert_condition(&job(&h).await, "Failed", "True", "DeadlineExceeded");
    assert!(h.pods().await.is_empty());
}

#[tokio::test]
async fn a_suspended_job_has_no_pods_until_resumed() {
    let h = Harness::new().await;
    h.apply(&JOB.replace("parallelism: 2", "parallelism: 2\n  suspend: true"))
        .await;
    h.settle().await;
    assert!(h.pods().await.is_empty());
    let suspended = job(&h).await;
    assert_condition(&suspended, "Suspended", "True", "JobSuspended");
    assert!(suspended.status.unwrap().start_time.is_none());

    h.apply(&JOB.replace("parallelism: 2", "parallelism: 2\n  suspend: false"))
        .await;
    h.settle().await;
    assert_eq!(h.pods().await.len(), 2);
    assert_condition(&job(&h).await, "Suspended", "False", "JobResumed");

    h.apply(&JOB.replace("parallelism: 2", "parallelism: 2\n  suspend: true"))
        .await;
    h.settle().await;
    assert!(
        h.pods().await.is_empty(),
        "suspending deletes the active pods"
    );
}

#[tokio::test]
async fn a_finished_job_is_deleted_with_its_pods_after_its_ttl() {
    let h = Harness::new().await;
    h.apply(&JOB.replace(
        "completions: 3\n  parallelism: 2",
        "ttlSecondsAfterFinished: 60",
    ))
    .await;
    h.settle().await;
    finish_active(&h, "Succeeded").await;
    h.settle().await;
    assert!(condition(&job(&h).await, "Complete").is_some());
    h.clock.advance(Duration::from_secs(59));
    h.settle().await;
    assert_eq!(h.pods().await.len(), 1);
    h.clock.advance(Duration::from_secs(2));
    h.settle().await;
    assert!(h.get::<Job>("Job", "work").await.is_none());
    assert!(h.pods().await.is_empty());
}
