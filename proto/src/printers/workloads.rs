//! ReplicaSets, Deployments, DaemonSets and StatefulSets: replica counts from the
//! status, and with `-o wide` the template's CONTAINERS and IMAGES and the SELECTOR.

use jiff::Timestamp;
use serde_json::Value;

use super::age::age;
use super::fields::{containers, format_label_selector, format_labels, int, selector_string, text};
use super::{docs, Column};

const CONTAINERS: &str = "Names of each container in the template.";
const IMAGES: &str = "Images referenced by each container in the template.";
const READY: &str = "Number of the pod with ready state";

pub const REPLICA_SET: &[Column] = &[
    Column::name(),
    Column::int("Desired", docs::RS_REPLICAS),
    Column::int("Current", docs::RS_STATUS_REPLICAS),
    Column::int("Ready", docs::RS_READY_REPLICAS),
    Column::age(),
    Column::text("Containers", CONTAINERS).wide(),
    Column::text("Images", IMAGES).wide(),
    Column::text("Selector", docs::RS_SELECTOR).wide(),
];

pub const DEPLOYMENT: &[Column] = &[
    Column::name(),
    Column::text("Ready", READY),
    Column::text("Up-to-date", docs::DEPLOY_UPDATED),
    Column::text("Available", docs::DEPLOY_AVAILABLE),
    Column::age(),
    Column::text("Containers", CONTAINERS).wide(),
    Column::text("Images", IMAGES).wide(),
    Column::text("Selector", docs::DEPLOY_SELECTOR).wide(),
];

pub const DAEMON_SET: &[Column] = &[
    Column::name(),
    Column::int("Desired", docs::DS_DESIRED),
    Column::int("Current", docs::DS_CURRENT),
    Column::int("Ready", docs::DS_READY),
    Column::int("Up-to-date", docs::DS_UPDATED),
    Column::int("Available", docs::DS_AVAILABLE),
    Column::text("Node Selector", docs::NODE_SELECTOR),
    Column::age(),
    Column::text("Containers", CONTAINERS).wide(),
    Column::text("Images", IMAGES).wide(),
    Column::text("Selector", docs::DS_SELECTOR).wide(),
];

pub const STATEFUL_SET: &[Column] = &[
    Column::name(),
    Column::text("Ready", READY),
    Column::age(),
    Column::text("Containers", CONTAINERS).wide(),
    Column::text("Images", IMAGES).wide(),
];

/// spec.replicas, which the API server defaults to 1.
fn desired(o: &Value) -> i64 {
    o.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn name(o: &Value) -> Value {
    text(o, "/metadata/name").into()
}

pub fn replica_set(o: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = containers(o, "/spec/template/spec");
    vec![
        name(o),
        desired(o).into(),
        int(o, "/status/replicas").into(),
        int(o, "/status/readyReplicas").into(),
        age(o, now),
        names,
        images,
        format_label_selector(&o["spec"]["selector"]).into(),
    ]
}

pub fn deployment(o: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = containers(o, "/spec/template/spec");
    // printDeployment writes the selector as it is: empty when it selects everything.
    let selector = selector_string(&o["spec"]["selector"]).unwrap_or_else(|| "<invalid>".into());
    vec![
        name(o),
        format!("{}/{}", int(o, "/status/readyReplicas"), desired(o)).into(),
        int(o, "/status/updatedReplicas").into(),
        int(o, "/status/availableReplicas").into(),
        age(o, now),
        names,
        images,
        selector.into(),
    ]
}

pub fn daemon_set(o: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = containers(o, "/spec/template/spec");
    let status = |field: &str| Value::from(int(o, &format!("/status/{field}")));
    vec![
        name(o),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        format_labels(&o["spec"]["template"]["spec"]["nodeSelector"]).into(),
        age(o, now),
        names,
        images,
        format_label_selector(&o["spec"]["selector"]).into(),
    ]
}

pub fn stateful_set(o: &Value, now: Timestamp) -> Vec<Value> {
    let [names, images] = containers(o, "/spec/template/spec");
    vec![
        name(o),
        format!("{}/{}", int(o, "/status/readyReplicas"), desired(o)).into(),
        age(o, now),
        names,
        images,
    ]
}
