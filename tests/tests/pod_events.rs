//! The kubelet's events in `describe pod` on a joined node: a pod that starts shows
//! Scheduled then Pulling, Pulled, Created and Started from kubelet; a crashing pod
//! shows BackOff with a count (`(xN over ...)`); a failing liveness probe shows
//! Unhealthy and Killing; a readiness probe that never passes shows one Unhealthy row
//! counting every failed attempt; envFrom keys that are not variable names show
//! InvalidEnvironmentVariableNames; `get pods A B` reads B as a name, as kubectl does.
//! Run as root:
//!
//!     cargo build --workspace && cargo test -p skiff-e2e --test pod_events -- --test-threads=1

use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::Value;
use skiff_e2e::{wait_for, ClusterEnv};

/// Generous: the first start of a pod includes a pull from the local registry.
const START: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(500);

const PODS: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: events-web
spec:
  containers:
  - name: web
    image: nginx:latest
---
apiVersion: v1
kind: Pod
metadata:
  name: events-crash
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "exit 1"]
---
apiVersion: v1
kind: Pod
metadata:
  name: events-live
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: probed
    image: busybox
    command: ["sh", "-c", "sleep 1000"]
    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: events-unready
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: probed
    image: busybox
    command: ["sh", "-c", "sleep 1000"]
    readinessProbe:
      exec:
        command: ["cat", "/tmp/ready"]
      periodSeconds: 1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: events-env
data:
  GOOD: "1"
  1bad: "2"
  2nd: "3"
---
apiVersion: v1
kind: Pod
metadata:
  name: events-env
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "sleep 1000"]
    envFrom:
    - configMapRef:
        name: events-env
"#;

/// The Events about pod `name`, as stored.
fn events_of(env: &ClusterEnv, name: &str) -> anyhow::Result<Vec<Value>> {
    let list: Value = serde_json::from_str(&env.cp.skiff(&["get", "events", "-o", "json"])?)?;
    Ok(list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["involvedObject"]["kind"] == "Pod" && e["involvedObject"]["name"] == name)
        .collect())
}

/// The `Events:` rows of `describe pod NAME` whose Reason is `reason`.
fn described_rows(env: &ClusterEnv, name: &str, reason: &str) -> anyhow::Result<Vec<String>> {
    let described = env.cp.skiff(&["describe", "pod", name])?;
    let events = described
        .split_once("Events:")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default();
    Ok(events
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(reason))
        .map(str::to_string)
        .collect())
}

/// Checks that pod `name`'s stored `reason` Event counts at least two occurrences.
fn counted_twice(env: &ClusterEnv, name: &str, reason: &str) -> anyhow::Result<()> {
    let event = events_of(env, name)?
        .into_iter()
        .find(|e| e["reason"] == reason)
        .unwrap_or_default();
    ensure!(
        event["count"].as_i64() >= Some(2),
        "{reason} event: {event}"
    );
    Ok(())
}

/// The Type column of a row.
fn type_of(row: &str) -> &str {
    row.split_whitespace().next().unwrap_or_default()
}

#[test]
fn describe_pod_shows_the_kubelets_events() {
    let agent_args = ["--backoff-base", "1s", "--backoff-max", "4s"];
    ClusterEnv::run_with_args(&[], &agent_args, |env| {
        env.cp.apply_yaml("pods.yaml", PODS)?;

        // A pod that starts: the scheduler's event, then the kubelet's, in order.
        let want = ["Scheduled", "Pulling", "Pulled", "Created", "Started"];
        let rows = wait_for("events-web's start in describe", START, POLL, || {
            let rows: Vec<Vec<String>> = want
                .iter()
                .map(|reason| described_rows(env, "events-web", reason))
                .collect::<anyhow::Result<_>>()?;
            if rows.iter().any(Vec::is_empty) {
                bail!("rows: {rows:?}");
            }
            Ok(rows)
        })?;
        for (reason, rows) in want.iter().zip(&rows) {
            let from = if *reason == "Scheduled" {
                "default-scheduler"
            } else {
                "kubelet"
            };
            ensure!(
                type_of(&rows[0]) == "Normal" && rows[0].contains(from),
                "{reason} row: {rows:?}"
            );
        }
        ensure!(
            rows[1][0].contains(r#"Pulling image "nginx:latest""#),
            "{rows:?}"
        );
        ensure!(
            rows[2][0].contains(r#"Successfully pulled image "nginx:latest" in "#)
                && rows[2][0].contains(" bytes."),
            "Pulled with the image size: {rows:?}"
        );
        ensure!(rows[3][0].contains("Created container: web"), "{rows:?}");
        ensure!(rows[4][0].contains("Started container web"), "{rows:?}");
        let started = events_of(env, "events-web")?
            .into_iter()
            .find(|e| e["reason"] == "Started")
            .unwrap_or_default();
        ensure!(
            started["involvedObject"]["fieldPath"] == "spec.containers{web}"
                && started["source"]["host"]
                    .as_str()
                    .is_some_and(|h| !h.is_empty()),
            "Started event: {started}"
        );

        // A crash loop: one BackOff event counting every back-off.
        let row = wait_for("events-crash's BackOff counted twice", START, POLL, || {
            let rows = described_rows(env, "events-crash", "BackOff")?;
            match rows.first() {
                Some(row) if row.contains("(x") => Ok(row.clone()),
                _ => bail!("BackOff rows: {rows:?}"),
            }
        })?;
        ensure!(
            type_of(&row) == "Warning"
                && row.contains("kubelet")
                && row.contains(
                    "Back-off restarting failed container app in pod events-crash_default("
                ),
            "BackOff row: {row}"
        );
        counted_twice(env, "events-crash", "BackOff")?;

        // A failing liveness probe: Unhealthy, then Killing.
        let (unhealthy, killing) =
            wait_for("events-live's Unhealthy and Killing", START, POLL, || {
                let unhealthy = described_rows(env, "events-live", "Unhealthy")?;
                let killing = described_rows(env, "events-live", "Killing")?;
                match (unhealthy.first(), killing.first()) {
                    (Some(u), Some(k)) => Ok((u.clone(), k.clone())),
                    _ => bail!("Unhealthy: {unhealthy:?}, Killing: {killing:?}"),
                }
            })?;
        ensure!(
            type_of(&unhealthy) == "Warning" && unhealthy.contains("Liveness probe failed:"),
            "Unhealthy row: {unhealthy}"
        );
        ensure!(
            type_of(&killing) == "Normal"
                && killing.contains("Container probed failed liveness probe, will be restarted"),
            "Killing row: {killing}"
        );

        // A readiness probe that never passes: one row counting every failed attempt.
        let rows = wait_for("events-unready's Unhealthy counted", START, POLL, || {
            let rows = described_rows(env, "events-unready", "Unhealthy")?;
            match &rows[..] {
                [row] if row.contains("(x") => Ok(rows),
                _ => bail!("Unhealthy rows: {rows:?}"),
            }
        })?;
        ensure!(
            type_of(&rows[0]) == "Warning" && rows[0].contains("Readiness probe failed:"),
            "Unhealthy row: {rows:?}"
        );
        counted_twice(env, "events-unready", "Unhealthy")?;

        let rows = wait_for("events-env's skipped keys", START, POLL, || {
            let rows = described_rows(env, "events-env", "InvalidEnvironmentVariableNames")?;
            match rows.first() {
                Some(_) => Ok(rows),
                None => bail!("no InvalidEnvironmentVariableNames row"),
            }
        })?;
        ensure!(
            type_of(&rows[0]) == "Warning"
                && rows[0].contains("Keys [1bad, 2nd] from the EnvFrom configMap default/events-env were skipped since they are considered invalid environment variable names."),
            "{rows:?}"
        );

        // Words after the kind are names: the pod found is listed, the other reported.
        let out = env
            .cp
            .skiff_output(&["get", "pods", "events-web", "nope"])?;
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        ensure!(
            !out.status.success()
                && stdout.lines().any(|l| l.starts_with("events-web "))
                && stderr.trim() == r#"Error from server (NotFound): pods "nope" not found"#,
            "get pods events-web nope: {stdout} / {stderr}"
        );
        Ok(())
    });
}
