//! The pod table: `NAME READY STATUS RESTARTS AGE`, with kubectl's STATUS rules.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use serde_json::{json, Value};

use super::age;

/// kubectl's pod STATUS column and READY/RESTARTS figures (printers.printPod).
pub struct Row {
    pub status: String,
    pub ready: usize,
    pub total: usize,
    pub restarts: i32,
    pub last_restart: Option<String>,
}

pub fn row(pod: &Pod) -> Row {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let mut reason = status
        .reason
        .clone()
        .or(status.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    let inits = spec.init_containers.clone().unwrap_or_default();
    let sidecars = inits
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .count();
    let total = spec.containers.len() + sidecars;
    let (mut ready, mut restarts) = (0usize, 0i32);
    let mut last: Option<jiff::Timestamp> = None;
    let mut note_last = |c: &ContainerStatus| {
        if let Some(t) = c
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref())
        {
            if last.is_none_or(|l| t.0 > l) {
                last = Some(t.0);
            }
        }
    };
    let init_statuses = status.init_container_statuses.clone().unwrap_or_default();
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += c.restart_count;
        note_last(c);
        let sidecar = inits
            .get(i)
            .is_some_and(|s| s.restart_policy.as_deref() == Some("Always"));
        let state = c.state.clone().unwrap_or_default();
        if sidecar && c.started == Some(true) {
            if c.ready {
                ready += 1;
            }
            continue;
        }
        if state.terminated.as_ref().is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        reason = if let Some(t) = &state.terminated {
            match &t.reason {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => format!("Init:ExitCode:{}", t.exit_code),
            }
        } else if let Some(r) = state
            .waiting
            .as_ref()
            .and_then(|w| w.reason.clone())
            .filter(|r| !r.is_empty() && r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{}", inits.len())
        };
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in status.container_statuses.iter().flatten().rev() {
            restarts += c.restart_count;
            note_last(c);
            let state = c.state.clone().unwrap_or_default();
            if let Some(r) = state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .filter(|r| !r.is_empty())
            {
                reason = r;
            } else if let Some(t) = &state.terminated {
                reason = match &t.reason {
                    Some(r) if !r.is_empty() => r.clone(),
                    _ => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = "Terminating".into();
    }
    let last_restart = last.map(|t| age::human(jiff::Timestamp::now().duration_since(t)));
    Row {
        status: reason,
        ready,
        total,
        restarts,
        last_restart,
    }
}

pub fn print_table(pods: &[Pod], wide: bool, with_namespace: bool) {
    print!("{}", align(&rows(pods, wide, with_namespace)));
}

/// Header and rows of the pod table.
pub fn rows(pods: &[Pod], wide: bool, with_namespace: bool) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
    if with_namespace {
        header.insert(0, "NAMESPACE");
    }
    if wide {
        header.extend(["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]);
    }
    rows.push(header.iter().map(|s| s.to_string()).collect());
    for pod in pods {
        let r = row(pod);
        let restarts = match &r.last_restart {
            Some(ago) if r.restarts > 0 => format!("{} ({ago} ago)", r.restarts),
            _ => r.restarts.to_string(),
        };
        let mut cols = vec![
            pod.metadata.name.clone().unwrap_or_default(),
            format!("{}/{}", r.ready, r.total),
            r.status,
            restarts,
            age::since(pod.metadata.creation_timestamp.as_ref()),
        ];
        if with_namespace {
            cols.insert(
                0,
                pod.metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into()),
            );
        }
        if wide {
            let status = pod.status.clone().unwrap_or_default();
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            cols.extend([
                status.pod_ip.unwrap_or_else(|| "<none>".into()),
                node.unwrap_or_else(|| "<none>".into()),
                "<none>".into(),
                "<none>".into(),
            ]);
        }
        rows.push(cols);
    }
    rows
}

/// Left-aligned columns, three spaces apart, as kubectl's tabwriter prints them.
pub fn align(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == r.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i] + 2)
                }
            })
            .collect();
        out.push_str(line.join(" ").trim_end());
        out.push('\n');
    }
    out
}

pub fn to_list(pods: &[Pod]) -> Value {
    json!({ "apiVersion": "v1", "kind": "List", "items": pods, "metadata": { "resourceVersion": "" } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn waiting_reason_wins() {
        let p = pod(
            json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "a", "image": "", "imageID": "", "ready": false, "restartCount": 0,
              "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}),
        );
        let r = row(&p);
        assert_eq!(
            (r.status.as_str(), r.ready, r.total),
            ("ImagePullBackOff", 0, 1)
        );
    }

    #[test]
    fn running_and_completed() {
        let p = pod(
            json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
              {"name": "a", "image": "", "imageID": "", "ready": true, "restartCount": 2, "state": {"running": {}}},
              {"name": "b", "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}),
        );
        let r = row(&p);
        assert_eq!(
            (r.status.as_str(), r.ready, r.total, r.restarts),
            ("NotReady", 1, 2, 2)
        );
    }

    #[test]
    fn init_progress() {
        let p = pod(
            json!({"spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
              {"name": "i1", "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
              {"name": "i2", "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}]}}),
        );
        assert_eq!(row(&p).status, "Init:1/2");
    }

    #[test]
    fn columns_align() {
        let rows = vec![
            vec!["NAME".into(), "READY".into()],
            vec!["my-nginx-pod".into(), "1/1".into()],
        ];
        assert_eq!(align(&rows), "NAME           READY\nmy-nginx-pod   1/1\n");
    }
}
