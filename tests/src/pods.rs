//! Reading pods back through the agent's contract (`skiff get pods -o json`, `skiff logs`)
//! and small accessors over the Pod JSON, so tests read as the scenario, not as JSON paths.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::agent::{TestAgent, NODE_NAME};

impl TestAgent {
    /// All pods the agent reports (`get pods -A -o json` → `items`).
    pub fn pods(&self) -> anyhow::Result<Vec<Value>> {
        if let Some(pid) = self.pid().filter(|pid| !crate::process::pid_alive(*pid)) {
            return Err(crate::fatal(format!("skiff-agent (pid {pid}) has exited")));
        }
        let out = self.skiff_ok(&["get", "pods", "-A", "-o", "json"])?;
        let list: Value = serde_json::from_str(&out)
            .with_context(|| format!("get pods -o json printed non-JSON: {out}"))?;
        match list.get("items") {
            Some(Value::Array(items)) => Ok(items.clone()),
            _ => bail!("get pods -o json: no items array in {list}"),
        }
    }

    /// One pod by its manifest name. Static pods may be reported under `<name>-<node>`
    /// (as kubelet names mirror pods), so both spellings are accepted.
    pub fn pod(&self, name: &str) -> anyhow::Result<Value> {
        let pods = self.pods()?;
        let mirror = format!("{name}-{NODE_NAME}");
        let names: Vec<&str> = pods.iter().map(pod_name).collect();
        pods.iter()
            .find(|p| pod_name(p) == name || pod_name(p) == mirror)
            .cloned()
            .with_context(|| format!("no pod {name:?} among {names:?}"))
    }

    /// Waits until the pod is `Running` with every container running; returns the pod.
    pub fn wait_running(&self, name: &str, timeout: Duration) -> anyhow::Result<Value> {
        crate::wait_for(
            &format!("pod {name} Running"),
            timeout,
            Duration::from_millis(200),
            || {
                let pod = self.pod(name)?;
                let statuses = container_statuses(&pod);
                let all_running = !statuses.is_empty()
                    && statuses.iter().all(|s| s["state"].get("running").is_some());
                if phase(&pod) != "Running" || !all_running {
                    bail!(
                        "phase {:?}, containerStatuses {}",
                        phase(&pod),
                        Value::Array(statuses.to_vec())
                    );
                }
                Ok(pod)
            },
        )
    }

    /// `skiff logs POD -c CONTAINER`.
    pub fn logs(&self, pod: &str, container: &str) -> anyhow::Result<String> {
        self.skiff_ok(&["logs", pod, "-c", container])
    }

    /// `<root>/pods/<ns>_<name>_<uid>/<container>/<attempt>.log` with the highest attempt.
    pub fn log_file(&self, pod: &Value, container: &str) -> anyhow::Result<PathBuf> {
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
                let attempt = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()?;
                Some((attempt, path))
            })
            .collect();
        logs.sort();
        logs.pop()
            .map(|(_, p)| p)
            .with_context(|| format!("no <attempt>.log in {}", dir.display()))
    }

    /// `<root>/sandboxes/<uid>`: the pod's bind-mounted namespace files.
    pub fn sandbox_dir(&self, pod: &Value) -> PathBuf {
        self.root().join("sandboxes").join(pod_uid(pod))
    }
}

/// A container log file's text as a reader sees it: CRI lines (`<time> <stream> <F|P>
/// <text>`, docs/architecture.md "Container logs") without their prefix, partial lines
/// joined; lines of a plain file as they are.
pub fn log_text(raw: &str) -> String {
    let mut out = String::new();
    for line in raw.lines() {
        let parts: Vec<&str> = line.splitn(4, ' ').collect();
        let cri = parts.len() >= 3
            && matches!(parts[1], "stdout" | "stderr")
            && parts[0].starts_with(|c: char| c.is_ascii_digit())
            && parts[0].contains('T');
        match (cri, parts.get(2).and_then(|t| t.split(':').next())) {
            (true, Some("F")) => {
                out.push_str(parts.get(3).copied().unwrap_or_default());
                out.push('\n');
            }
            (true, Some("P")) => out.push_str(parts.get(3).copied().unwrap_or_default()),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// A single-container (`main`) pod manifest running `script` under `sh -c`; `extra_spec`
/// is inserted into `spec:` as is (indented two spaces, newline-terminated).
pub fn shell_pod(name: &str, image: &str, script: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{extra_spec}  containers:\n  - name: main\n    image: {image}\n    command: [\"sh\", \"-c\", {script:?}]\n"
    )
}

pub fn pod_name(pod: &Value) -> &str {
    pod["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn pod_uid(pod: &Value) -> &str {
    pod["metadata"]["uid"].as_str().unwrap_or_default()
}

pub fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or_default()
}

pub fn container_statuses(pod: &Value) -> &[Value] {
    pod["status"]["containerStatuses"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// The status of one container by name.
pub fn container_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    container_statuses(pod)
        .iter()
        .find(|s| s["name"] == container)
}

/// `state.waiting.reason` of a container (ErrImagePull, ImagePullBackOff, ...).
pub fn waiting_reason<'a>(pod: &'a Value, container: &str) -> Option<&'a str> {
    container_status(pod, container)?["state"]["waiting"]["reason"].as_str()
}

pub fn restart_count(pod: &Value, container: &str) -> Option<u64> {
    container_status(pod, container)?["restartCount"].as_u64()
}

/// The containerd container id, without the `containerd://` prefix.
pub fn container_id(pod: &Value, container: &str) -> Option<String> {
    let id = container_status(pod, container)?["containerID"].as_str()?;
    Some(id.strip_prefix("containerd://").unwrap_or(id).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shell_pod_is_valid_yaml() {
        let script = "trap '' TERM; i=$((i+1)); echo \"quoted\"";
        let yaml = shell_pod(
            "p",
            "busybox:latest",
            script,
            "  terminationGracePeriodSeconds: 3\n",
        );
        let pod: Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 3);
        assert_eq!(
            pod["spec"]["containers"][0]["command"],
            json!(["sh", "-c", script])
        );
    }

    #[test]
    fn reads_pod_status() {
        let pod = json!({
            "metadata": {"name": "p", "uid": "u1"},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "c", "restartCount": 2, "containerID": "containerd://abc",
                 "state": {"waiting": {"reason": "ImagePullBackOff"}}}
            ]}
        });
        assert_eq!(
            (pod_name(&pod), pod_uid(&pod), phase(&pod)),
            ("p", "u1", "Pending")
        );
        assert_eq!(waiting_reason(&pod, "c"), Some("ImagePullBackOff"));
        assert_eq!(restart_count(&pod, "c"), Some(2));
        assert_eq!(container_id(&pod, "c").as_deref(), Some("abc"));
        assert!(container_status(&pod, "other").is_none());
    }
}
