//! Helpers for probe and restart scenarios: manifests with probes and init containers,
//! the `skiff get pods` row as the user reads it, per-attempt log files, and a canned
//! gRPC health server made of busybox alone (there is no gRPC server image).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::agent::{TestAgent, NODE_NAME};
use crate::pods::{container_status, pod_name, pod_uid};

mod grpc;
mod scenario;

pub use grpc::{grpc_health_response, grpc_health_server};
pub use scenario::{case, probe_scenario, statuses, Case, Expect};

/// What a probe runs.
#[derive(Debug, Clone, Copy)]
pub enum Handler<'a> {
    /// `exec` of `sh -c SCRIPT` in the container.
    Exec(&'a str),
    /// `httpGet` of a path on a port of the pod IP.
    Http(&'a str, u16),
    /// `tcpSocket` connect to a port of the pod IP.
    Tcp(u16),
    /// `grpc` health check on a port of the pod IP.
    Grpc(u16),
}

/// A probe block (`kind` is `livenessProbe`, `readinessProbe` or `startupProbe`) for a
/// container field list, with `settings` such as `("periodSeconds", 1)`.
pub fn probe(kind: &str, handler: Handler<'_>, settings: &[(&str, i64)]) -> String {
    let body = match handler {
        Handler::Exec(script) => {
            format!("      exec:\n        command: [\"sh\", \"-c\", {script:?}]\n")
        }
        Handler::Http(path, port) => {
            format!("      httpGet:\n        path: {path:?}\n        port: {port}\n")
        }
        Handler::Tcp(port) => format!("      tcpSocket:\n        port: {port}\n"),
        Handler::Grpc(port) => format!("      grpc:\n        port: {port}\n"),
    };
    let mut yaml = format!("    {kind}:\n{body}");
    for (key, value) in settings {
        yaml.push_str(&format!("      {key}: {value}\n"));
    }
    yaml
}

/// One entry of `containers:` or `initContainers:`. `script` runs under `sh -c` (None
/// keeps the image's command); `fields` go under the container as they are (4 spaces).
pub fn container(name: &str, image: &str, script: Option<&str>, fields: &str) -> String {
    let command = script
        .map(|s| format!("    command: [\"sh\", \"-c\", {s:?}]\n"))
        .unwrap_or_default();
    format!("  - name: {name}\n    image: {image}\n{command}{fields}")
}

/// A pod manifest. `spec_fields` go under `spec:` as they are (2 spaces); a short grace
/// period is set so that containers whose PID 1 ignores SIGTERM stop quickly.
pub fn pod(name: &str, spec_fields: &str, init: &[String], containers: &[String]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n{spec_fields}"
    );
    if !init.is_empty() {
        yaml.push_str("  initContainers:\n");
        yaml.extend(init.iter().map(String::as_str));
    }
    yaml.push_str("  containers:\n");
    yaml.extend(containers.iter().map(String::as_str));
    yaml
}

/// A pod's line of `skiff get pods`, as the user reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRow {
    pub ready: String,
    pub status: String,
    /// The RESTARTS column's count (without the "(5s ago)").
    pub restarts: u32,
}

/// A timestamped observation, for scenarios that follow a pod over time.
#[derive(Debug, Clone)]
pub struct Seen<T> {
    pub at: Duration,
    pub what: T,
}

impl TestAgent {
    /// The pod's row of `skiff get pods` (default namespace; static pods may be listed
    /// under `<name>-<node>`).
    pub fn pod_row(&self, name: &str) -> anyhow::Result<PodRow> {
        let table = self.skiff_ok(&["get", "pods"])?;
        let mirror = format!("{name}-{NODE_NAME}");
        let line = table
            .lines()
            .skip(1)
            .find(|l| {
                let first = l.split_whitespace().next();
                first == Some(name) || first == Some(mirror.as_str())
            })
            .with_context(|| format!("no row for {name} in:\n{table}"))?;
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [_, ready, status, restarts, ..] = cols[..] else {
            bail!("short row {line:?}");
        };
        Ok(PodRow {
            ready: ready.to_string(),
            status: status.to_string(),
            restarts: restarts
                .parse()
                .with_context(|| format!("RESTARTS in {line:?}"))?,
        })
    }

    /// Waits until the pod satisfies `cond`; the last observation names its containers'
    /// states. Returns the pod.
    pub fn wait_pod(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        crate::wait_for(what, timeout, Duration::from_millis(200), || {
            let pod = self.pod(name)?;
            if !cond(&pod) {
                bail!("phase {:?}: {}", crate::pods::phase(&pod), statuses(&pod));
            }
            Ok(pod)
        })
    }

    /// Follows a pod's row until `done` says the history so far is complete; returns the
    /// distinct rows in the order they were seen. Fails after `timeout` with the history.
    pub fn follow_rows(
        &self,
        name: &str,
        timeout: Duration,
        mut done: impl FnMut(&[Seen<PodRow>]) -> bool,
    ) -> anyhow::Result<Vec<Seen<PodRow>>> {
        let start = Instant::now();
        let mut seen: Vec<Seen<PodRow>> = Vec::new();
        loop {
            if let Ok(row) = self.pod_row(name) {
                if seen.last().is_none_or(|s| s.what != row) {
                    seen.push(Seen {
                        at: start.elapsed(),
                        what: row,
                    });
                }
            }
            if done(&seen) {
                return Ok(seen);
            }
            if start.elapsed() > timeout {
                bail!("timed out following {name}; rows seen: {}", rows(&seen));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `<root>/pods/<ns>_<name>_<uid>/<container>/<attempt>.log`, every attempt, in order.
    pub fn attempt_logs(&self, pod: &Value, container: &str) -> anyhow::Result<Vec<PathBuf>> {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
        let dir = self
            .root()
            .join("pods")
            .join(format!("{ns}_{}_{}", pod_name(pod), pod_uid(pod)))
            .join(container);
        let mut logs: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .flatten()
            .filter_map(|e| {
                let path = e.path();
                let name = path.file_name()?.to_str()?;
                Some((name.strip_suffix(".log")?.parse().ok()?, path))
            })
            .collect();
        logs.sort();
        Ok(logs.into_iter().map(|(_, p)| p).collect())
    }
}

/// Rows as `t=1.2s 0/1 Running 0; ...`, for failure messages and printouts.
pub fn rows(seen: &[Seen<PodRow>]) -> String {
    let parts: Vec<String> = seen
        .iter()
        .map(|s| {
            let r = &s.what;
            format!("t={:.1?} {} {} {}", s.at, r.ready, r.status, r.restarts)
        })
        .collect();
    parts.join("; ")
}

/// A container's `ready`.
pub fn is_ready(pod: &Value, container: &str) -> bool {
    container_status(pod, container).is_some_and(|s| s["ready"] == true)
}

/// A container's `started`.
pub fn is_started(pod: &Value, container: &str) -> bool {
    container_status(pod, container).is_some_and(|s| s["started"] == true)
}

/// Whether the container is running now.
pub fn is_running(pod: &Value, container: &str) -> bool {
    container_status(pod, container).is_some_and(|s| s["state"].get("running").is_some())
}

/// The pod's `Ready` condition.
pub fn pod_ready(pod: &Value) -> bool {
    let conditions = pod["status"]["conditions"].as_array();
    conditions
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// `state.terminated` of an app container.
pub fn terminated<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    container_status(pod, container)?["state"]
        .get("terminated")
        .filter(|t| t.is_object())
}

/// `lastState.terminated` of an app container.
pub fn last_terminated<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    container_status(pod, container)?["lastState"]
        .get("terminated")
        .filter(|t| t.is_object())
}

/// The status of an init container (sidecars included) by name.
pub fn init_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    let statuses = pod["status"]["initContainerStatuses"].as_array()?;
    statuses.iter().find(|s| s["name"] == container)
}

/// `start <uptime>` lines that scenario containers print as they start: the host's
/// uptime (seconds, 10 ms resolution), read through the container's own /proc.
pub const PRINT_START: &str = "read up rest < /proc/uptime; echo \"start $up\"";

/// Whether `values` (distinct observations in order) went through `pattern` in that
/// order, other values allowed in between.
pub fn went_through<'a>(values: impl IntoIterator<Item = &'a str>, pattern: &[&str]) -> bool {
    let mut want = pattern.iter().peekable();
    for v in values {
        if want.peek().is_some_and(|w| **w == v) {
            want.next();
        }
    }
    want.peek().is_none()
}

/// The uptime a container printed with [`PRINT_START`], from its log text.
pub fn printed_start(log: &str) -> Option<f64> {
    log.lines()
        .find_map(|l| l.strip_prefix("start "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_valid_yaml() {
        let live = probe(
            "livenessProbe",
            Handler::Exec("cat /x"),
            &[("periodSeconds", 1)],
        );
        let ready = probe("readinessProbe", Handler::Http("/index.html", 80), &[]);
        let init = [container("first", "busybox:latest", Some("true"), "")];
        let app = [
            container("a", "busybox:latest", Some("sleep 1"), &live),
            container("b", "httpd:latest", None, &ready),
        ];
        let yaml = pod("p", "  restartPolicy: OnFailure\n", &init, &app);
        let pod: Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(pod["spec"]["restartPolicy"], "OnFailure");
        assert_eq!(pod["spec"]["initContainers"][0]["name"], "first");
        let a = &pod["spec"]["containers"][0];
        assert_eq!(a["livenessProbe"]["exec"]["command"][2], "cat /x");
        assert_eq!(a["livenessProbe"]["periodSeconds"], 1);
        let b = &pod["spec"]["containers"][1];
        assert_eq!(b["readinessProbe"]["httpGet"]["port"], 80);
        assert!(b.get("command").is_none());
    }

    #[test]
    fn went_through_in_order() {
        let seen = ["0/1", "1/1", "0/1", "0/1", "1/1"];
        assert!(went_through(seen, &["1/1", "0/1", "1/1"]));
        assert!(!went_through(["1/1", "0/1"], &["1/1", "0/1", "1/1"]));
        assert!(!went_through(
            ["Init:1/2", "Init:0/2"],
            &["Init:0/2", "Init:1/2"]
        ));
    }

    #[test]
    fn parses_printed_start() {
        assert_eq!(printed_start("x\nstart 123.45\n"), Some(123.45));
        assert_eq!(printed_start("nothing"), None);
    }
}
