//! kubectl's `describe` layouts, shared by the cluster and agent verbs.

mod config;
mod cron_job;
mod daemonset;
mod env;
mod node;
mod pod;
mod statefulset;
mod storage;
pub mod workloads;

use std::fmt::Write;

use serde_json::Value;

pub use config::{describe_config_map, describe_secret};
pub use cron_job::describe_cron_job;
pub use daemonset::describe_daemon_set;
pub use node::describe_node;
pub use pod::describe_pod;
pub use statefulset::describe_stateful_set;
pub use storage::{describe_claim, describe_class, describe_volume};
pub use workloads::{describe_deployment, describe_replica_set, pod_template};

use super::pods::align;
use super::tables::{age_at, s};

/// `Events:` with the events whose involvedObject is `kind/name`, oldest first.
pub fn events_section(events: &[Value], kind: &str, name: &str) -> String {
    let mut mine: Vec<&Value> = events
        .iter()
        .filter(|e| s(e, "/involvedObject/kind") == kind && s(e, "/involvedObject/name") == name)
        .collect();
    if mine.is_empty() {
        return "Events:            <none>\n".into();
    }
    mine.sort_by_key(|e| last_time(e));
    let mut rows = vec![["Type", "Reason", "Age", "From", "Message"]
        .map(String::from)
        .to_vec()];
    rows.extend(mine.iter().map(|e| {
        let source = Some(s(e, "/source/component"))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| s(e, "/reportingComponent"));
        vec![
            s(e, "/type"),
            s(e, "/reason"),
            event_age(e),
            source,
            s(e, "/message").trim().to_string(),
        ]
    }));
    let mut out = String::from("Events:\n");
    for line in align(&rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// kubectl's Age of an event: `3m` once, `3m (x5 over 10m)` for a repeated one (since
/// the last and the first time).
fn event_age(e: &Value) -> String {
    let first = [
        "/firstTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .into_iter()
    .find(|p| !s(e, p).is_empty())
    .unwrap_or("/firstTimestamp");
    let count = e.pointer("/count").and_then(Value::as_i64).unwrap_or(0);
    if count > 1 && !s(e, "/lastTimestamp").is_empty() {
        let (last, first) = (age_at(e, "/lastTimestamp"), age_at(e, first));
        return format!("{last} (x{count} over {first})");
    }
    age_at(e, first)
}

fn last_time(e: &Value) -> String {
    let t = s(e, "/lastTimestamp");
    if t.is_empty() {
        s(e, "/metadata/creationTimestamp")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pod_events_are_filtered() {
        let events = [
            json!({"type": "Warning", "reason": "FailedScheduling", "message": "0/0 nodes are available",
                "involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "default-scheduler"}}),
            json!({"type": "Normal", "reason": "Other", "involvedObject": {"kind": "Pod", "name": "q"}}),
        ];
        let text = events_section(&events, "Pod", "p");
        assert!(text.contains("FailedScheduling") && text.contains("default-scheduler"));
        assert!(!text.contains("Other"));
        assert_eq!(
            events_section(&events, "Pod", "z"),
            "Events:            <none>\n"
        );
    }

    #[test]
    fn repeated_events_read_as_kubectl_prints_them() {
        let ago = |minutes: i64| {
            let t = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(minutes);
            t.to_string()
        };
        let events = [
            json!({"type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container app in pod p_default(u)",
                "count": 5, "firstTimestamp": ago(10), "lastTimestamp": ago(3),
                "involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "kubelet", "host": "n1"}}),
            json!({"type": "Normal", "reason": "Started", "message": "Started container app\n",
                "count": 1, "firstTimestamp": ago(12), "lastTimestamp": ago(12),
                "involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "kubelet"}}),
        ];
        let text = events_section(&events, "Pod", "p");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Events:");
        let words = |line: &str| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            words(lines[1]),
            ["Type", "Reason", "Age", "From", "Message"]
        );
        assert_eq!(
            words(lines[2])[..5],
            ["Normal", "Started", "12m", "kubelet", "Started"]
        );
        assert_eq!(
            words(lines[3])[..7],
            ["Warning", "BackOff", "3m", "(x5", "over", "10m)", "kubelet"]
        );
    }
}
