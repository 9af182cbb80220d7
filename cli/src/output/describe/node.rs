//! `describe node`, in kubectl's layout.

use std::fmt::Write;

use serde_json::Value;

use crate::output::pods::align;
use crate::output::tables::{age_at, s};

/// kubectl's node description: labels, conditions, addresses, capacity, pod CIDR, pods.
pub fn describe_node(node: &Value, pods: &[Value]) -> String {
    let name = s(node, "/metadata/name");
    let mut out = String::new();
    let map = |p: &str| -> Vec<(String, String)> {
        node.pointer(p)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_string)))
            .collect()
    };
    let _ = writeln!(out, "Name:               {name}");
    let labels: Vec<String> = map("/metadata/labels")
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        out,
        "Labels:             {}",
        if labels.is_empty() {
            "<none>".into()
        } else {
            labels.join("\n                    ")
        }
    );
    let _ = writeln!(
        out,
        "CreationTimestamp:  {}",
        s(node, "/metadata/creationTimestamp")
    );
    let taints: Vec<String> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            let value = s(t, "/value");
            let value = if value.is_empty() {
                value
            } else {
                format!("={value}")
            };
            format!("{}{value}:{}", s(t, "/key"), s(t, "/effect"))
        })
        .collect();
    let taints = if taints.is_empty() {
        "<none>".to_string()
    } else {
        taints.join("\n                    ")
    };
    let _ = writeln!(out, "Taints:             {taints}");
    let unsched = node
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let _ = writeln!(out, "Unschedulable:      {unsched}");
    let _ = writeln!(out, "Conditions:");
    let mut rows = vec![["Type", "Status", "LastHeartbeatTime", "Reason", "Message"]
        .map(String::from)
        .to_vec()];
    for c in node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        rows.push(vec![
            s(c, "/type"),
            s(c, "/status"),
            s(c, "/lastHeartbeatTime"),
            s(c, "/reason"),
            s(c, "/message"),
        ]);
    }
    for line in align(&rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "Addresses:");
    for a in node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let _ = writeln!(out, "  {}:  {}", s(a, "/type"), s(a, "/address"));
    }
    for (title, ptr) in [
        ("Capacity", "/status/capacity"),
        ("Allocatable", "/status/allocatable"),
    ] {
        let _ = writeln!(out, "{title}:");
        for (k, v) in map(ptr) {
            let _ = writeln!(out, "  {:<18}{v}", format!("{k}:"));
        }
    }
    let cidr = s(node, "/spec/podCIDR");
    let _ = writeln!(
        out,
        "PodCIDR:            {}",
        if cidr.is_empty() { "<none>" } else { &cidr }
    );
    let running: Vec<&Value> = pods
        .iter()
        .filter(|p| s(p, "/spec/nodeName") == name)
        .filter(|p| !matches!(s(p, "/status/phase").as_str(), "Succeeded" | "Failed"))
        .collect();
    let _ = writeln!(
        out,
        "Non-terminated Pods:          ({} in total)",
        running.len()
    );
    let mut rows = vec![["Namespace", "Name", "Age"].map(String::from).to_vec()];
    for p in running {
        rows.push(vec![
            s(p, "/metadata/namespace"),
            s(p, "/metadata/name"),
            age_at(p, "/metadata/creationTimestamp"),
        ]);
    }
    for line in align(&rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn node_lists_its_running_pods() {
        let node = json!({"metadata": {"name": "n1", "labels": {"a": "b"}}, "spec": {"podCIDR": "10.42.1.0/24"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}], "capacity": {"cpu": "4"}}});
        let pods = [
            json!({"metadata": {"name": "p1", "namespace": "default"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}),
            json!({"metadata": {"name": "p2", "namespace": "default"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}}),
        ];
        let text = describe_node(&node, &pods);
        assert!(
            text.contains("a=b")
                && text.contains("10.42.1.0/24")
                && text.contains("InternalIP:  10.0.0.5")
        );
        assert!(text.contains("(1 in total)") && text.contains("p1") && !text.contains("p2"));
    }

    #[test]
    fn node_shows_its_taints_as_kubectl() {
        let mut node = json!({"metadata": {"name": "n1"}, "spec": {}});
        assert!(describe_node(&node, &[]).contains("Taints:             <none>\n"));
        node["spec"]["taints"] = json!([
            {"key": "dedicated", "value": "db", "effect": "NoExecute"},
            {"key": "spot", "effect": "NoSchedule"},
        ]);
        assert!(describe_node(&node, &[]).contains(
            "Taints:             dedicated=db:NoExecute\n                    spot:NoSchedule\n"
        ));
    }
}
