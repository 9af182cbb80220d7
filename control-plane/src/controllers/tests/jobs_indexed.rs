//! `completionMode: Indexed`: a pod per index with its name, hostname, annotation, label
//! and JOB_COMPLETION_INDEX; completedIndexes; a failed index retried; one pod per index.

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::jobs::{assert_condition, job, JOB};
use super::*;
use crate::core::objects::is_active;

const INDEX: &str = "batch.kubernetes.io/job-completion-index";

fn indexed() -> String {
    JOB.replace(
        "completions: 3",
        "completionMode: Indexed\n  completions: 3",
    )
}

fn index_of(pod: &Pod) -> &str {
    &pod.metadata.annotations.as_ref().unwrap()[INDEX]
}

/// The kubelet's part for the active pod of `index`: it ends in `phase`.
async fn finish_index(h: &Harness, index: &str, phase: &str) {
    let now = h.clock.now_string();
    for stored in h.store.list("Pod", None).await.unwrap().0 {
        let pod: Pod = decode(&stored).unwrap();
        if !is_active(&pod) || index_of(&pod) != index {
            continue;
        }
        let code = if phase == "Succeeded" { 0 } else { 1 };
        let status = json!({"phase": phase, "containerStatuses": [{
            "name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "finishedAt": now}},
        }]});
        h.write_status(stored, status).await;
    }
}

async fn active_indexes(h: &Harness) -> Vec<String> {
    let mut indexes: Vec<String> = h
        .pods()
        .await
        .iter()
        .filter(|p| is_active(p))
        .map(|p| index_of(p).to_string())
        .collect();
    indexes.sort();
    indexes
}

#[tokio::test]
async fn each_index_gets_a_pod_that_knows_its_index() {
    let h = Harness::new().await;
    h.apply(&indexed()).await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(active_indexes(&h).await, ["0", "1"], "parallelism 2");
    for pod in &pods {
        let index = index_of(pod);
        let name = pod.metadata.name.as_deref().unwrap();
        assert!(name.starts_with(&format!("work-{index}-")), "{name}");
        assert_eq!(name.len(), format!("work-{index}-").len() + 5);
        assert_eq!(pod.metadata.labels.as_ref().unwrap()[INDEX], index);
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(&*format!("work-{index}")));
        let env = serde_json::to_value(&spec.containers[0].env).unwrap();
        assert_eq!(
            env,
            json!([{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "apiVersion": "v1",
                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']",
            }}}])
        );
    }
}

#[tokio::test]
async fn completed_indexes_add_up_and_a_failed_index_runs_again() {
    let h = Harness::new().await;
    h.apply(&indexed()).await;
    h.settle().await;
    finish_index(&h, "0", "Succeeded").await;
    finish_index(&h, "1", "Failed").await;
    h.settle().await;
    let status = job(&h).await.status.unwrap();
    assert_eq!(status.completed_indexes.as_deref(), Some("0"));
    assert_eq!((status.succeeded, status.failed), (Some(1), Some(1)));
    assert!(active_indexes(&h).await.is_empty(), "the failure's delay");
    h.clock.advance(Duration::from_secs(11));
    h.settle().await;
    assert_eq!(active_indexes(&h).await, ["1", "2"]);

    finish_index(&h, "2", "Succeeded").await;
    h.settle().await;
    let status = job(&h).await.status.unwrap();
    assert_eq!(status.completed_indexes.as_deref(), Some("0,2"));
    assert_eq!(active_indexes(&h).await, ["1"], "index 2 is not run twice");

    // A finished pod deleted by someone still counts: its index is in the status.
    let done: Vec<String> = h
        .pods()
        .await
        .iter()
        .filter(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Succeeded"))
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    for name in done {
        h.store
            .delete(&Key::new("Pod", "default", name), None)
            .await
            .unwrap();
    }
    finish_index(&h, "1", "Succeeded").await;
    h.settle().await;
    let done = job(&h).await;
    assert_condition(&done, "Complete", "True", "CompletionsReached");
    let status = done.status.unwrap();
    assert_eq!(status.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(status.succeeded, Some(3));
}

#[tokio::test]
async fn a_second_pod_of_an_index_is_deleted() {
    let h = Harness::new().await;
    h.apply(&indexed()).await;
    h.settle().await;
    let stored = h.store.list("Pod", None).await.unwrap().0.remove(0);
    let mut copy: serde_json::Value = serde_json::from_slice(&stored.json).unwrap();
    let original = copy["metadata"]["name"].as_str().unwrap().to_string();
    copy["metadata"]["name"] = json!(format!("{original}-copy"));
    copy["metadata"]["uid"] = json!("copy-uid");
    h.clock.advance(Duration::from_secs(1));
    copy["metadata"]["creationTimestamp"] = json!(h.clock.now_string());
    let key = Key::new("Pod", "default", format!("{original}-copy"));
    h.store
        .create(key, "copy-uid".into(), serde_json::to_vec(&copy).unwrap())
        .await
        .unwrap();
    h.settle().await;
    let pods = h.pods().await;
    let names: Vec<&str> = pods
        .iter()
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.contains(&&*original),
        "the older pod stays: {names:?}"
    );
    assert_eq!(active_indexes(&h).await, ["0", "1"]);
}

fn per_index(spec: &str) -> String {
    indexed().replace(
        "parallelism: 2",
        &format!("parallelism: 3\n  backoffLimitPerIndex: 1\n{spec}"),
    )
}

fn failure_count(pod: &Pod) -> &str {
    &pod.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/job-index-failure-count"]
}

#[tokio::test]
async fn an_index_failing_past_its_own_limit_fails_and_then_the_job() {
    let h = Harness::new().await;
    h.apply(&per_index("")).await;
    h.settle().await;
    assert!(h.pods().await.iter().all(|p| failure_count(p) == "0"));
    finish_index(&h, "1", "Failed").await;
    h.settle().await;
    assert_eq!(
        active_indexes(&h).await,
        ["0", "2"],
        "index 1 waits its delay"
    );
    let status = job(&h).await.status.unwrap();
    assert_eq!(status.failed_indexes.as_deref(), Some(""));
    h.clock.advance(Duration::from_secs(11));
    h.settle().await;
    let retry: Vec<Pod> = h
        .pods()
        .await
        .into_iter()
        .filter(|p| is_active(p) && index_of(p) == "1")
        .collect();
    assert_eq!(retry.len(), 1);
    assert_eq!(failure_count(&retry[0]), "1");

    finish_index(&h, "1", "Failed").await;
    h.clock.advance(Duration::from_secs(600));
    h.settle().await;
    let status = job(&h).await.status.unwrap();
    assert_eq!(status.failed_indexes.as_deref(), Some("1"));
    assert_eq!(
        active_indexes(&h).await,
        ["0", "2"],
        "no third pod for index 1"
    );
    finish_index(&h, "0", "Succeeded").await;
    finish_index(&h, "2", "Succeeded").await;
    h.settle().await;
    let failed = job(&h).await;
    assert_condition(&failed, "Failed", "True", "FailedIndexes");
    assert_eq!(
        failed.status.unwrap().completed_indexes.as_deref(),
        Some("0,2")
    );
}

#[tokio::test]
async fn a_fail_index_rule_past_max_failed_indexes_fails_the_job() {
    let h = Harness::new().await;
    let policy = "  maxFailedIndexes: 0\n  podFailurePolicy:\n    rules:\n    - action: FailIndex\n      onExitCodes: {operator: In, values: [1]}\n";
    h.apply(&per_index(policy).replace("backoffLimitPerIndex: 1", "backoffLimitPerIndex: 5"))
        .await;
    h.settle().await;
    finish_index(&h, "2", "Failed").await;
    h.settle().await;
    let failed = job(&h).await;
    assert_condition(&failed, "Failed", "True", "MaxFailedIndexesExceeded");
    assert_eq!(failed.status.unwrap().failed_indexes.as_deref(), Some("2"));
    assert_eq!(active_indexes(&h).await, Vec::<String>::new());
}

#[tokio::test]
async fn scaling_an_indexed_job_down_deletes_the_pods_past_its_completions() {
    let h = Harness::new().await;
    let three = indexed().replace("parallelism: 2", "parallelism: 3");
    h.apply(&three).await;
    h.settle().await;
    assert_eq!(active_indexes(&h).await, ["0", "1", "2"]);
    let two = three
        .replace("completions: 3", "completions: 2")
        .replace("parallelism: 3", "parallelism: 2");
    h.apply(&two).await;
    h.settle().await;
    assert_eq!(active_indexes(&h).await, ["0", "1"]);
    assert_eq!(h.pods().await.len(), 2, "index 2's pod is deleted");
}
