//! Jobs on a joined node with real containers: a Job whose pod prints and exits 0 is
//! Complete 1/1 in `get jobs`; one whose pod exits 1 with backoffLimit 1 and
//! restartPolicy Never ends Failed with BackoffLimitExceeded after exactly two pods (the
//! second after the controller's 10 s delay). An Indexed Job's pods each print their
//! JOB_COMPLETION_INDEX; a podFailurePolicy FailJob rule ends a Job after one pod; a
//! selector that misses the template is refused at apply with its field.

use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::Value;
use skiff_e2e::{wait_for, ClusterEnv, TestControlPlane};

const WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(500);

fn job(name: &str, command: &str, backoff_limit: i32) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  backoffLimit: {backoff_limit}
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "{command}"]
"#
    )
}

/// The job's pods, found through the label the API server put on its template.
fn pods_of(cp: &TestControlPlane, job: &str) -> anyhow::Result<Vec<Value>> {
    let selector = format!("job-name={job}");
    let list: Value =
        serde_json::from_str(&cp.skiff(&["get", "pods", "-l", &selector, "-o", "json"])?)?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// The True Complete or Failed condition of the job, once there is one.
fn finished(cp: &TestControlPlane, job: &str) -> anyhow::Result<Value> {
    wait_for(&format!("job {job} finished"), WAIT, POLL, || {
        let job = cp.get_json("job", job)?;
        let conditions = job["status"]["conditions"].as_array().cloned();
        let done = conditions
            .into_iter()
            .flatten()
            .find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
        match done {
            Some(c) => Ok(c),
            None => bail!("status: {}", job["status"]),
        }
    })
}

#[test]
fn a_job_runs_to_completion_and_a_failing_one_stops_at_its_backoff_limit() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml("job-done.yaml", &job("job-done", "echo done", 6))?;
        let condition = finished(cp, "job-done")?;
        ensure!(condition["type"] == "Complete", "{condition}");
        let listed = cp.skiff(&["get", "jobs"])?;
        let line = listed
            .lines()
            .find(|l| l.starts_with("job-done "))
            .unwrap_or_default();
        let cols: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            cols.get(1..3) == Some(&["Complete", "1/1"][..]),
            "get jobs: {listed}"
        );
        ensure!(
            listed.starts_with("NAME") && listed.contains("COMPLETIONS"),
            "{listed}"
        );
        let pods = pods_of(cp, "job-done")?;
        ensure!(
            pods.len() == 1 && pods[0]["status"]["phase"] == "Succeeded",
            "pods: {pods:?}"
        );
        let pod = pods[0]["metadata"]["name"].as_str().unwrap_or_default();
        let logs = cp.skiff(&["logs", pod])?;
        ensure!(logs.contains("done"), "logs: {logs}");

        cp.apply_yaml("job-fail.yaml", &job("job-fail", "exit 1", 1))?;
        let condition = finished(cp, "job-fail")?;
        ensure!(
            condition["type"] == "Failed" && condition["reason"] == "BackoffLimitExceeded",
            "{condition}"
        );
        ensure!(
            condition["message"] == "Job has reached the specified backoff limit",
            "{condition}"
        );
        // Nothing more is created once it has failed.
        std::thread::sleep(Duration::from_secs(3));
        let pods = pods_of(cp, "job-fail")?;
        let phases: Vec<&str> = pods
            .iter()
            .map(|p| p["status"]["phase"].as_str().unwrap_or_default())
            .collect();
        ensure!(phases == ["Failed", "Failed"], "pods: {phases:?}");
        let listed = cp.skiff(&["get", "jobs"])?;
        ensure!(
            listed
                .lines()
                .any(|l| l.starts_with("job-fail ") && l.contains("Failed") && l.contains("0/1")),
            "get jobs: {listed}"
        );
        Ok(())
    });
}

fn indexed_job() -> String {
    job("job-indexed", "echo $JOB_COMPLETION_INDEX", 6).replace(
        "  backoffLimit: 6\n",
        "  backoffLimit: 6\n  completionMode: Indexed\n  completions: 3\n  parallelism: 3\n",
    )
}

fn fail_job_policy() -> String {
    job("job-policy", "exit 42", 6).replace(
        "  backoffLimit: 6\n",
        "  backoffLimit: 6\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes: {containerName: main, operator: In, values: [42]}\n",
    )
}

#[test]
fn an_indexed_job_a_fail_job_rule_and_a_selector_that_misses() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml("job-indexed.yaml", &indexed_job())?;
        let condition = finished(cp, "job-indexed")?;
        ensure!(condition["type"] == "Complete", "{condition}");
        let status = cp.get_json("job", "job-indexed")?["status"].clone();
        ensure!(status["completedIndexes"] == "0-2", "{status}");
        let mut printed = Vec::new();
        for pod in pods_of(cp, "job-indexed")? {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let index = &pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"];
            ensure!(
                name.starts_with(&format!("job-indexed-{}-", index.as_str().unwrap_or("?"))),
                "{name} has index {index}"
            );
            printed.push(cp.skiff(&["logs", name])?.trim().to_string());
        }
        printed.sort();
        ensure!(printed == ["0", "1", "2"], "logs: {printed:?}");

        cp.apply_yaml("job-policy.yaml", &fail_job_policy())?;
        let condition = finished(cp, "job-policy")?;
        ensure!(
            condition["type"] == "Failed" && condition["reason"] == "PodFailurePolicy",
            "{condition}"
        );
        let pods = pods_of(cp, "job-policy")?;
        ensure!(pods.len() == 1, "one pod, not backoffLimit + 1: {pods:?}");
        let pod = pods[0]["metadata"]["name"].as_str().unwrap_or_default();
        let expected = format!(
            "Container main for pod default/{pod} failed with exit code 42 matching FailJob rule at index 0"
        );
        ensure!(condition["message"] == expected.as_str(), "{condition}");

        let missing = job("job-missing", "true", 6).replace(
            "  backoffLimit: 6\n",
            "  backoffLimit: 6\n  manualSelector: true\n  selector: {matchLabels: {app: x}}\n",
        );
        let path = cp.scratch().join("job-missing.yaml");
        std::fs::write(&path, missing)?;
        let out = cp.skiff_output(&["apply", "-f", path.to_str().unwrap_or_default()])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            !out.status.success()
                && stderr.contains("spec.template.metadata.labels: Invalid value: ")
                && stderr.contains("`selector` does not match template `labels`"),
            "apply: {stderr}"
        );
        Ok(())
    });
}
