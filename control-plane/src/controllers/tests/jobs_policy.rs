//! podFailurePolicy (FailJob ends the Job at once, Ignore does not count, the rest
//! counts) and a resumed Job's deadline counting from the resume.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::jobs::{assert_condition, condition, job, JOB};
use super::*;
use crate::core::objects::is_active;
use crate::core::Clock;

const POLICY: &str = "  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes: {containerName: c, operator: In, values: [42]}
    - action: Ignore
      onExitCodes: {operator: In, values: [3]}
    - action: Ignore
      onPodConditions: [{type: DisruptionTarget}]
";

fn with_policy() -> String {
    JOB.replace("completions: 3\n", &format!("completions: 3\n{POLICY}"))
}

/// The kubelet's part for one active pod: it fails with `code` (and `conditions`).
async fn fail_one(h: &Harness, code: i32, conditions: Value) -> String {
    let now = h.clock.now_string();
    for stored in h.store.list("Pod", None).await.unwrap().0 {
        let pod: Pod = decode(&stored).unwrap();
        if !is_active(&pod) {
            continue;
        }
        let status = json!({"phase": "Failed", "conditions": conditions, "containerStatuses": [{
            "name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "finishedAt": now}},
        }]});
        h.write_status(stored, status).await;
        return pod.metadata.name.unwrap();
    }
    panic!("no active pod");
}

fn active(pods: &[Pod]) -> usize {
    pods.iter().filter(|p| is_active(p)).count()
}

#[tokio::test]
async fn a_fail_job_rule_fails_the_job_at_its_first_match() {
    let h = Harness::new().await;
    h.apply(&with_policy()).await;
    h.settle().await;
    let name = fail_one(&h, 42, json!([])).await;
    h.settle().await;
    let failed = job(&h).await;
    assert_condition(&failed, "Failed", "True", "PodFailurePolicy");
    let c = failed.status.as_ref().unwrap().conditions.as_ref().unwrap();
    let message = c
        .iter()
        .find(|c| c.type_ == "Failed")
        .unwrap()
        .message
        .clone();
    assert_eq!(
        message.as_deref(),
        Some(&*format!(
            "Container c for pod default/{name} failed with exit code 42 matching FailJob rule at index 0"
        ))
    );
    let pods = h.pods().await;
    assert_eq!(
        pods.len(),
        1,
        "the other active pod is deleted, none created"
    );
    assert_eq!(failed.status.unwrap().failed, Some(1));
}

#[tokio::test]
async fn ignored_failures_do_not_count_and_others_do() {
    let h = Harness::new().await;
    h.apply(&with_policy().replace("parallelism: 2", "parallelism: 1\n  backoffLimit: 0"))
        .await;
    h.settle().await;
    fail_one(&h, 3, json!([])).await;
    h.settle().await;
    let disrupted = json!([{"type": "DisruptionTarget", "status": "True"}]);
    fail_one(&h, 137, disrupted).await;
    h.settle().await;
    // Two ignored failures: no count, no delay, a new pod each time.
    let pods = h.pods().await;
    assert_eq!((pods.len(), active(&pods)), (3, 1));
    let status = job(&h).await.status.unwrap();
    assert_eq!(status.failed, None);
    assert_eq!(condition(&job(&h).await, "Failed"), None);

    // Any other failure counts (the default Count), and backoffLimit 0 allows none.
    fail_one(&h, 1, json!([])).await;
    h.settle().await;
    let failed = job(&h).await;
    assert_condition(&failed, "Failed", "True", "BackoffLimitExceeded");
    assert_eq!(failed.status.unwrap().failed, Some(1));
}

#[tokio::test]
async fn a_resumed_jobs_deadline_counts_from_the_resume() {
    let h = Harness::new().await;
    let deadline = JOB.replace(
        "parallelism: 2",
        "parallelism: 2\n  activeDeadlineSeconds: 30",
    );
    h.apply(&deadline).await;
    h.settle().await;
    let first_start = job(&h).await.status.unwrap().start_time.unwrap();
    h.clock.advance(Duration::from_secs(20));
    let suspended = deadline.replace("parallelism: 2\n", "parallelism: 2\n  suspend: true\n");
    h.apply(&suspended).await;
    h.settle().await;
    assert!(h.pods().await.is_empty());
    h.clock.advance(Duration::from_secs(100));
    h.apply(&deadline.replace("parallelism: 2\n", "parallelism: 2\n  suspend: false\n"))
        .await;
    h.settle().await;
    let resumed = job(&h).await;
    assert_condition(&resumed, "Suspended", "False", "JobResumed");
    let start = resumed.status.unwrap().start_time.unwrap();
    assert_eq!(
        start.0,
        h.clock.now_seconds(),
        "startTime moved to the resume"
    );
    assert_ne!(start, first_start);
    h.clock.advance(Duration::from_secs(29));
    h.settle().await;
    assert_eq!(condition(&job(&h).await, "Failed"), None);
    assert_eq!(active(&h.pods().await), 2);
    h.clock.advance(Duration::from_secs(2));
    h.settle().await;
    assert_condition(&job(&h).await, "Failed", "True", "DeadlineExceeded");
}
