//! Nodes (STATUS ROLES AGE VERSION, wide: addresses and what the node runs), Namespaces
//! and Leases.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use super::age::age;
use super::fields::{items, or, text};
use super::{docs, Column};

pub const NODE: &[Column] = &[
    Column::name(),
    Column::text("Status", "The status of the node"),
    Column::text("Roles", "The roles of the node"),
    Column::age(),
    Column::text("Version", docs::KUBELET_VERSION),
    Column::text("Internal-IP", docs::NODE_ADDRESSES).wide(),
    Column::text("External-IP", docs::NODE_ADDRESSES).wide(),
    Column::text("OS-Image", docs::OS_IMAGE).wide(),
    Column::text("Kernel-Version", docs::KERNEL_VERSION).wide(),
    Column::text("Container-Runtime", docs::CONTAINER_RUNTIME).wide(),
];

pub const NAMESPACE: &[Column] = &[
    Column::name(),
    Column::text("Status", "The status of the namespace"),
    Column::age(),
];

pub const LEASE: &[Column] = &[
    Column::name(),
    Column::text("Holder", docs::LEASE_HOLDER),
    Column::age(),
];

/// The label naming a role in its key: `node-role.kubernetes.io/control-plane`.
const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
/// The older label naming a role in its value: `kubernetes.io/role=master`.
const ROLE_LABEL: &str = "kubernetes.io/role";

/// `Ready`, `NotReady` or `Unknown`, then `SchedulingDisabled` when cordoned.
pub fn node_status(o: &Value) -> String {
    let ready = items(o, "/status/conditions").find(|c| c["type"] == "Ready");
    let mut status = vec![match ready {
        Some(c) if c["status"] == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if o.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// The node's roles from its labels, sorted, or `<none>`.
pub fn node_roles(o: &Value) -> String {
    let labels = o.pointer("/metadata/labels").and_then(Value::as_object);
    let roles: BTreeSet<&str> = labels
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match k.strip_prefix(ROLE_PREFIX) {
            Some(role) => Some(role),
            None if k == ROLE_LABEL => v.as_str(),
            None => None,
        })
        .filter(|role| !role.is_empty())
        .collect();
    or(roles.into_iter().collect::<Vec<_>>().join(","), "<none>")
}

/// The node's first address of type `kind` ("InternalIP"), or `<none>`.
pub fn node_address(o: &Value, kind: &str) -> String {
    items(o, "/status/addresses")
        .find(|a| a["type"] == kind)
        .map_or_else(|| "<none>".into(), |a| text(a, "/address"))
}

pub fn node(o: &Value, now: Timestamp) -> Vec<Value> {
    let info = |field: &str| {
        Value::from(or(
            text(o, &format!("/status/nodeInfo/{field}")),
            "<unknown>",
        ))
    };
    vec![
        text(o, "/metadata/name").into(),
        node_status(o).into(),
        node_roles(o).into(),
        age(o, now),
        text(o, "/status/nodeInfo/kubeletVersion").into(),
        node_address(o, "InternalIP").into(),
        node_address(o, "ExternalIP").into(),
        info("osImage"),
        info("kernelVersion"),
        info("containerRuntimeVersion"),
    ]
}

pub fn namespace(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        text(o, "/metadata/name").into(),
        text(o, "/status/phase").into(),
        age(o, now),
    ]
}

pub fn lease(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        text(o, "/metadata/name").into(),
        text(o, "/spec/holderIdentity").into(),
        age(o, now),
    ]
}
