//! kubectl's tables for kinds other than pods, computed from the objects' JSON.

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::{age, cronjobs, daemonsets, jobs, pods, services, statefulsets, storage};

/// Header and rows of `get KIND` for objects of `kind`.
pub fn rows(kind: &str, items: &[Value], wide: bool, with_namespace: bool) -> Vec<Vec<String>> {
    let header: Vec<&str> = match kind {
        "Pod" => return pod_rows(items, wide, with_namespace),
        "Node" if wide => vec![
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME",
        ],
        "Node" => vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "Namespace" => vec!["NAME", "STATUS", "AGE"],
        "ConfigMap" => vec!["NAME", "DATA", "AGE"],
        "Secret" => vec!["NAME", "TYPE", "DATA", "AGE"],
        "Event" => vec!["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "Deployment" if wide => vec![
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ],
        "Deployment" => vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "ReplicaSet" if wide => vec![
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ],
        "ReplicaSet" => vec!["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        "DaemonSet" if wide => daemonsets::WIDE_HEADER.to_vec(),
        "DaemonSet" => daemonsets::HEADER.to_vec(),
        "Job" if wide => jobs::WIDE_HEADER.to_vec(),
        "Job" => jobs::HEADER.to_vec(),
        "CronJob" if wide => cronjobs::wide_header(),
        "CronJob" => cronjobs::HEADER.to_vec(),
        "StatefulSet" if wide => statefulsets::WIDE_HEADER.to_vec(),
        "StatefulSet" => statefulsets::HEADER.to_vec(),
        "Service" => vec![
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        "Endpoints" => vec!["NAME", "ENDPOINTS", "AGE"],
        "PersistentVolume" => storage::PV_HEADER.to_vec(),
        "PersistentVolumeClaim" => storage::PVC_HEADER.to_vec(),
        "StorageClass" => storage::SC_HEADER.to_vec(),
        _ => vec!["NAME", "AGE"],
    };
    let namespaced = !matches!(
        kind,
        "Node" | "Namespace" | "PersistentVolume" | "StorageClass"
    );
    let mut out = vec![with_ns(
        header.iter().map(|s| s.to_string()).collect(),
        with_namespace && namespaced,
        "NAMESPACE",
    )];
    for o in items {
        let ns = s(o, "/metadata/namespace");
        out.push(with_ns(
            row(kind, o, wide),
            with_namespace && namespaced,
            &ns,
        ));
    }
    out
}

fn with_ns(mut cols: Vec<String>, add: bool, ns: &str) -> Vec<String> {
    if add {
        cols.insert(0, ns.to_string());
    }
    cols
}

fn pod_rows(items: &[Value], wide: bool, with_namespace: bool) -> Vec<Vec<String>> {
    let pods: Vec<Pod> = items
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    pods::rows(&pods, wide, with_namespace)
}

/// The string at a JSON pointer, or "".
pub fn s(o: &Value, ptr: &str) -> String {
    match o.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// The strings of a JSON array (none when it is not one).
pub fn strings(array: &Value) -> Vec<&str> {
    array
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn n(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn count(o: &Value, ptr: &str) -> usize {
    o.pointer(ptr)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

/// kubectl's `<none>` for an unset value.
pub fn or_none(v: String) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v
    }
}

/// Age of the RFC 3339 time at `ptr`.
pub fn age_at(o: &Value, ptr: &str) -> String {
    match s(o, ptr).parse::<jiff::Timestamp>() {
        Ok(t) => age::human(jiff::Timestamp::now().duration_since(t)),
        Err(_) => "<unknown>".into(),
    }
}

fn row(kind: &str, o: &Value, wide: bool) -> Vec<String> {
    let name = s(o, "/metadata/name");
    let age = age_at(o, "/metadata/creationTimestamp");
    match kind {
        "Node" => {
            let mut cols = vec![
                name,
                node_status(o),
                node_roles(o),
                age,
                s(o, "/status/nodeInfo/kubeletVersion"),
            ];
            if wide {
                cols.extend([
                    or_none(node_address(o, "InternalIP")),
                    or_none(s(o, "/status/nodeInfo/osImage")),
                    or_none(s(o, "/status/nodeInfo/kernelVersion")),
                    or_none(s(o, "/status/nodeInfo/containerRuntimeVersion")),
                ]);
            }
            cols
        }
        "Namespace" => vec![name, or_default(s(o, "/status/phase"), "Active"), age],
        "ConfigMap" => {
            let data = count(o, "/data") + count(o, "/binaryData");
            vec![name, data.to_string(), age]
        }
        "Secret" => {
            // stringData is write-only: the server merges it into data.
            let data = count(o, "/data");
            vec![
                name,
                or_default(s(o, "/type"), "Opaque"),
                data.to_string(),
                age,
            ]
        }
        "Event" => {
            let last = [
                "/lastTimestamp",
                "/eventTime",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .find(|p| !s(o, p).is_empty())
            .map_or("<unknown>".into(), |p| age_at(o, p));
            let object = format!(
                "{}/{}",
                s(o, "/involvedObject/kind").to_ascii_lowercase(),
                s(o, "/involvedObject/name")
            );
            vec![
                last,
                s(o, "/type"),
                s(o, "/reason"),
                object,
                s(o, "/message"),
            ]
        }
        "Deployment" => with_template(
            vec![
                name,
                format!("{}/{}", n(o, "/status/readyReplicas"), replicas(o)),
                n(o, "/status/updatedReplicas").to_string(),
                n(o, "/status/availableReplicas").to_string(),
                age,
            ],
            o,
            wide,
        ),
        "ReplicaSet" => with_template(
            vec![
                name,
                replicas(o).to_string(),
                n(o, "/status/replicas").to_string(),
                n(o, "/status/readyReplicas").to_string(),
                age,
            ],
            o,
            wide,
        ),
        "DaemonSet" => with_template(daemonsets::row(o), o, wide),
        "Job" => with_template(jobs::row(o), o, wide),
        "CronJob" => with_template(cronjobs::row(o), &o["spec"]["jobTemplate"], wide)
            .into_iter()
            .map(or_none)
            .collect(),
        "StatefulSet" => statefulsets::row(o, wide),
        "Service" => {
            let [service_type, cluster_ip, external, ports] = services::service_columns(o);
            vec![name, service_type, cluster_ip, external, ports, age]
        }
        "Endpoints" => vec![name, services::endpoints_summary(o), age],
        "PersistentVolume" => storage::pv_row(o),
        "PersistentVolumeClaim" => storage::pvc_row(o),
        "StorageClass" => storage::sc_row(o),
        _ => vec![name, age],
    }
}

/// `-o wide` of workloads: CONTAINERS IMAGES SELECTOR.
fn with_template(mut cols: Vec<String>, o: &Value, wide: bool) -> Vec<String> {
    if wide {
        cols.extend(template_columns(o));
        cols.push(super::describe::workloads::selector_text(
            &o["spec"]["selector"],
        ));
    }
    cols
}

/// CONTAINERS and IMAGES of a workload's template, comma-separated.
pub fn template_columns(o: &Value) -> [String; 2] {
    let containers = o
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let join = |field: &str| {
        containers
            .iter()
            .map(|c| s(c, field))
            .collect::<Vec<_>>()
            .join(",")
    };
    [join("/name"), join("/image")]
}

fn or_default(v: String, d: &str) -> String {
    if v.is_empty() {
        d.into()
    } else {
        v
    }
}

fn replicas(o: &Value) -> i64 {
    o.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// `Ready`, `NotReady` or `Unknown`, plus `,SchedulingDisabled` when cordoned.
pub fn node_status(o: &Value) -> String {
    let ready = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| s(c, "/status"));
    let mut status = match ready.as_deref() {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if o.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(o: &Value) -> String {
    let roles: Vec<&str> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    or_none(roles.join(","))
}

/// The node's first address of type `kind` ("InternalIP").
pub fn node_address(o: &Value, kind: &str) -> String {
    o.pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a["type"] == kind)
        .map(|a| s(a, "/address"))
        .unwrap_or_default()
}

/// `80/TCP,8080:31294/TCP`.
pub fn service_ports(o: &Value) -> String {
    let ports = o.pointer("/spec/ports").and_then(Value::as_array);
    ports
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = or_default(s(p, "/protocol"), "TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) => format!("{}:{np}/{proto}", n(p, "/port")),
                None => format!("{}/{proto}", n(p, "/port")),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
