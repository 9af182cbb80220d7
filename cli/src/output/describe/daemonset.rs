//! `describe daemonset NAME`, laid out as kubectl's.

use std::fmt::Write;

use serde_json::Value;

use super::events_section;
use super::workloads::{annotations, lines, pod_template, pods_status, selector_text};
use crate::output::tables::s;
use skiff_proto::printers::format_labels;

/// kubectl's DaemonSet description; `pods` are the namespace's pods.
pub fn describe_daemon_set(ds: &Value, pods: &[Value], events: &[Value]) -> String {
    let mut out = String::new();
    let labels: Option<std::collections::BTreeMap<String, String>> =
        serde_json::from_value(ds["metadata"]["labels"].clone()).ok();
    let head = [
        ("Name:", s(ds, "/metadata/name")),
        ("Namespace:", s(ds, "/metadata/namespace")),
        ("Selector:", selector_text(&ds["spec"]["selector"])),
        (
            "Node-Selector:",
            format_labels(&ds["spec"]["template"]["spec"]["nodeSelector"]),
        ),
        ("Labels:", lines(labels.as_ref(), "=", 16)),
        ("Annotations:", annotations(ds, 16)),
    ];
    for (label, value) in head {
        let _ = writeln!(out, "{label:<16}{value}");
    }
    let n = |field: &str| {
        ds.pointer(&format!("/status/{field}"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    for (label, field) in [
        (
            "Desired Number of Nodes Scheduled",
            "desiredNumberScheduled",
        ),
        (
            "Current Number of Nodes Scheduled",
            "currentNumberScheduled",
        ),
        (
            "Number of Nodes Scheduled with Up-to-date Pods",
            "updatedNumberScheduled",
        ),
        (
            "Number of Nodes Scheduled with Available Pods",
            "numberAvailable",
        ),
        ("Number of Nodes Misscheduled", "numberMisscheduled"),
    ] {
        let _ = writeln!(out, "{label}: {}", n(field));
    }
    let _ = writeln!(out, "Pods Status:  {}", pods_status(ds, pods));
    let template = serde_json::from_value(ds["spec"]["template"].clone()).unwrap_or_default();
    out.push_str(&pod_template(&template));
    out.push_str(&events_section(
        events,
        "DaemonSet",
        &s(ds, "/metadata/name"),
    ));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_daemon_set_description_counts_nodes_and_its_pods() {
        let ds = json!({
            "metadata": {"name": "agent", "namespace": "default", "uid": "u1",
                         "labels": {"app": "agent"}},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"nodeSelector": {"disk": "ssd"},
                                           "containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2,
                       "updatedNumberScheduled": 1, "numberAvailable": 1, "numberMisscheduled": 0},
        });
        let mine = |phase: &str| json!({"metadata": {"ownerReferences": [{"uid": "u1"}]}, "status": {"phase": phase}});
        let other = json!({"metadata": {"ownerReferences": [{"uid": "u2"}]}, "status": {"phase": "Running"}});
        let events = [
            json!({"type": "Normal", "reason": "SuccessfulCreate", "message": "Created pod: agent-x",
            "involvedObject": {"kind": "DaemonSet", "name": "agent"}, "source": {"component": "daemonset-controller"}}),
        ];
        let text = describe_daemon_set(&ds, &[mine("Running"), mine("Pending"), other], &events);
        for line in [
            "Name:           agent",
            "Selector:       app=agent",
            "Node-Selector:  disk=ssd",
            "Labels:         app=agent",
            "Desired Number of Nodes Scheduled: 2",
            "Current Number of Nodes Scheduled: 2",
            "Number of Nodes Scheduled with Up-to-date Pods: 1",
            "Number of Nodes Scheduled with Available Pods: 1",
            "Number of Nodes Misscheduled: 0",
            "Pods Status:  1 Running / 1 Waiting / 0 Succeeded / 0 Failed",
            "Pod Template:",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        assert!(text.contains("SuccessfulCreate") && text.contains("daemonset-controller"));
    }
}
