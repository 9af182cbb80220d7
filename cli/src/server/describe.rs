//! `describe KIND NAME` against the control plane: pods (with their events) and nodes.

use std::fmt::Write;

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use skiff_proto::v1::GetRequest;

use super::{decode, list, Api};
use crate::args::Scope;
use crate::client::status_error;
use crate::commands::describe::describe_pod;
use crate::kinds;
use crate::output::pods::align;
use crate::output::services::describe_service;
use crate::output::tables::{age_at, s};

pub async fn run(api: &mut Api, kind: &str, name: &str, scope: &Scope) -> anyhow::Result<()> {
    let kind = kinds::resolve(kind)?;
    let req = GetRequest {
        kind: kind.kind.into(),
        namespace: scope.namespace.clone(),
        name: name.into(),
    };
    let obj = decode(&api.get(req).await.map_err(status_error)?.into_inner())?;
    let text = match kind.kind {
        "Pod" => {
            let pod: Pod = serde_json::from_value(obj.clone())?;
            let events = list(api, "Event", scope, None).await;
            format!(
                "{}{}",
                describe_pod(&pod),
                events_or_error(events, "Pod", name)
            )
        }
        "Node" => {
            let all = Scope {
                all_namespaces: true,
                ..scope.clone()
            };
            let pods = list(api, "Pod", &all, None).await?;
            let events = list(api, "Event", &all, None).await;
            format!(
                "{}{}",
                describe_node(&obj, &pods),
                events_or_error(events, "Node", name)
            )
        }
        "Service" => {
            let endpoints = GetRequest {
                kind: "Endpoints".into(),
                namespace: scope.namespace.clone(),
                name: name.into(),
            };
            let endpoints = match api.get(endpoints).await {
                Ok(response) => Some(decode(&response.into_inner())?),
                Err(_) => None,
            };
            let events = list(api, "Event", scope, None).await;
            format!(
                "{}{}",
                describe_service(&obj, endpoints.as_ref()),
                events_or_error(events, "Service", name)
            )
        }
        // workloads
        "Deployment" => {
            let sets = list(api, "ReplicaSet", scope, None).await?;
            let events = list(api, "Event", scope, None).await.unwrap_or_default();
            super::describe_workloads::describe_deployment(&obj, &sets, &events)
        }
        "ReplicaSet" => {
            let pods = list(api, "Pod", scope, None).await?;
            let events = list(api, "Event", scope, None).await.unwrap_or_default();
            super::describe_workloads::describe_replica_set(&obj, &pods, &events)
        }
        _ => serde_yaml::to_string(&obj)?,
    };
    print!("{text}");
    Ok(())
}

/// The events section, or why the server could not list events.
fn events_or_error(events: anyhow::Result<Vec<Value>>, kind: &str, name: &str) -> String {
    match events {
        Ok(events) => events_section(&events, kind, name),
        Err(e) => format!("Events:            <unavailable: {e}>\n"),
    }
}

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
}
