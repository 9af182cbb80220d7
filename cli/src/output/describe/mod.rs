//! kubectl's `describe` layouts, shared by the cluster and agent verbs.

mod config;
mod env;
mod node;
mod pod;
pub mod workloads;

use std::fmt::Write;

use serde_json::Value;

pub use config::{describe_config_map, describe_secret};
pub use node::describe_node;
pub use pod::describe_pod;
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
        let ptr = [
            "/lastTimestamp",
            "/eventTime",
            "/metadata/creationTimestamp",
        ]
        .into_iter()
        .find(|p| !s(e, p).is_empty())
        .unwrap_or("/lastTimestamp");
        vec![
            s(e, "/type"),
            s(e, "/reason"),
            age_at(e, ptr),
            s(e, "/source/component"),
            s(e, "/message"),
        ]
    }));
    let mut out = String::from("Events:\n");
    for line in align(&rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
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
}
