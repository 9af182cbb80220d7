//! What `kubectl get` prints for each kind: the columns and each object's cells, as
//! kube-apiserver's printers compute them (Kubernetes' `pkg/printers/internalversion`).
//! The control plane serves them as `meta.k8s.io/v1` Tables; the skiff CLI prints them
//! itself, so both show the same thing.
//!
//! `cells` always carries every column, the `-o wide` ones (priority 1) too, as the
//! server does; a client leaves those out unless asked for wide output.

use serde::Serialize;
use serde_json::Value;

mod age;
mod batch;
mod cluster;
mod config;
mod docs;
mod events;
pub mod fields;
pub mod light;
mod network;
mod pods;
mod rbac;
mod storage;
mod workloads;

pub use age::{human_duration, since};
pub use fields::{format_label_selector, format_labels};
pub use storage::{access_modes, is_default_class, phase as volume_phase};

/// One column of a Table, as `meta.k8s.io/v1 TableColumnDefinition` serializes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Column {
    /// As kube-apiserver names it ("Restarts"); kubectl prints it upper-cased.
    pub name: &'static str,
    /// An OpenAPI type: "string", "integer", "boolean", "date".
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// "name" for the column holding the object's name, else "".
    pub format: &'static str,
    pub description: &'static str,
    /// 0: always shown; 1: shown by `-o wide`.
    pub priority: i32,
}

impl Column {
    const fn new(name: &'static str, type_: &'static str, description: &'static str) -> Self {
        Column {
            name,
            type_,
            format: "",
            description,
            priority: 0,
        }
    }

    /// A string column.
    const fn text(name: &'static str, description: &'static str) -> Self {
        Column::new(name, "string", description)
    }

    /// An integer column.
    const fn int(name: &'static str, description: &'static str) -> Self {
        Column::new(name, "integer", description)
    }

    /// The NAME column every kind starts with.
    const fn name() -> Self {
        Column {
            format: "name",
            ..Column::text("Name", docs::NAME)
        }
    }

    /// The AGE column.
    const fn age() -> Self {
        Column::text("Age", docs::CREATION_TIMESTAMP)
    }

    /// Shown only by `-o wide`.
    const fn wide(self) -> Self {
        Column {
            priority: 1,
            ..self
        }
    }
}

/// A kind without a printer of its own: kube-apiserver's default table.
const DEFAULT: &[Column] = &[
    Column::name(),
    Column::new("Created At", "date", docs::CREATION_TIMESTAMP),
];

/// The columns of `kind` ("Pod"), wide ones included.
pub fn columns(kind: &str) -> &'static [Column] {
    match kind {
        "Pod" => pods::COLUMNS,
        "ReplicaSet" => workloads::REPLICA_SET,
        "Deployment" => workloads::DEPLOYMENT,
        "DaemonSet" => workloads::DAEMON_SET,
        "StatefulSet" => workloads::STATEFUL_SET,
        "Job" => batch::JOB,
        "CronJob" => batch::CRON_JOB,
        "Service" => network::SERVICE,
        "Endpoints" => network::ENDPOINTS,
        "EndpointSlice" => network::ENDPOINT_SLICE,
        "ConfigMap" => config::CONFIG_MAP,
        "Secret" => config::SECRET,
        "ServiceAccount" => config::SERVICE_ACCOUNT,
        "Namespace" => cluster::NAMESPACE,
        "Node" => cluster::NODE,
        "Lease" => cluster::LEASE,
        "Event" => events::COLUMNS,
        "PersistentVolume" => storage::VOLUME,
        "PersistentVolumeClaim" => storage::CLAIM,
        "StorageClass" => storage::CLASS,
        "RoleBinding" => rbac::ROLE_BINDING,
        "ClusterRoleBinding" => rbac::CLUSTER_ROLE_BINDING,
        _ => DEFAULT,
    }
}

/// The cells of `object` (of `kind`) under `columns(kind)`, ages counted up to `now`.
pub fn cells(kind: &str, object: &Value, now: jiff::Timestamp) -> Vec<Value> {
    match kind {
        "Pod" => pods::cells(object, now),
        "ReplicaSet" => workloads::replica_set(object, now),
        "Deployment" => workloads::deployment(object, now),
        "DaemonSet" => workloads::daemon_set(object, now),
        "StatefulSet" => workloads::stateful_set(object, now),
        "Job" => batch::job(object, now),
        "CronJob" => batch::cron_job(object, now),
        "Service" => network::service(object, now),
        "Endpoints" => network::endpoints(object, now),
        "EndpointSlice" => network::endpoint_slice(object, now),
        "ConfigMap" => config::config_map(object, now),
        "Secret" => config::secret(object, now),
        "ServiceAccount" => config::service_account(object, now),
        "Namespace" => cluster::namespace(object, now),
        "Node" => cluster::node(object, now),
        "Lease" => cluster::lease(object, now),
        "Event" => events::cells(object, now),
        "PersistentVolume" => storage::volume(object, now),
        "PersistentVolumeClaim" => storage::claim(object, now),
        "StorageClass" => storage::class(object, now),
        "RoleBinding" | "ClusterRoleBinding" => rbac::binding(object, now),
        _ => vec![
            fields::text(object, "/metadata/name").into(),
            fields::text(object, "/metadata/creationTimestamp").into(),
        ],
    }
}

/// The row's `conditions` (`meta.k8s.io/v1 TableRowCondition`), when it has any: a pod
/// that has finished is `Completed`.
pub fn conditions(kind: &str, object: &Value) -> Option<Value> {
    match kind {
        "Pod" => pods::conditions(object),
        _ => None,
    }
}

/// A cell as kubectl prints it: strings up to their first line break (then `...`),
/// numbers and booleans in their JSON spelling, null as nothing.
pub fn cell_text(cell: &Value) -> String {
    match cell {
        Value::String(s) => match s.find(['\n', '\r', '\x0c']) {
            Some(end) => format!("{}...", &s[..end]),
            None => s.clone(),
        },
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
