//! The scheduler's pure parts: requests, tolerations, affinity, messages.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use serde_json::json;

use crate::controllers::nodes::scheduler::fit::{self, tolerates, unschedulable_message, NodeInfo};
use crate::controllers::nodes::scheduler::requests::{pod_requests, Requests};

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
}

fn container(name: &str, resources: serde_json::Value) -> serde_json::Value {
    json!({"name": name, "image": "busybox", "resources": resources})
}

#[test]
fn requests_add_up_apps_and_sidecars_and_peak_over_init_containers() {
    let p = pod(json!({
        "initContainers": [
            container("init", json!({"requests": {"cpu": "2", "memory": "64Mi"}})),
            {"name": "sidecar", "image": "x", "restartPolicy": "Always",
             "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}},
        ],
        "containers": [
            container("a", json!({"requests": {"cpu": "250m", "memory": "128Mi"}})),
            // Limits stand in for missing requests.
            container("b", json!({"limits": {"cpu": "500m", "memory": "256Mi"}})),
        ],
        "overhead": {"cpu": "10m"},
    }));
    assert_eq!(
        pod_requests(&p),
        Requests {
            cpu: 2000 + 10,
            memory: (128 + 256 + 32) << 20,
        }
    );
    assert_eq!(
        pod_requests(&pod(json!({"containers": []}))),
        Requests::default()
    );
}

#[test]
fn tolerations_match_like_kubernetes() {
    let taint = Taint {
        key: "node.kubernetes.io/unreachable".into(),
        effect: "NoExecute".into(),
        ..Default::default()
    };
    let toleration = |v: serde_json::Value| -> Toleration { serde_json::from_value(v).unwrap() };
    assert!(tolerates(
        &toleration(json!({"operator": "Exists"})),
        &taint
    ));
    assert!(tolerates(
        &toleration(json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists"})),
        &taint
    ));
    assert!(!tolerates(
        &toleration(json!({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"})),
        &taint
    ));
    assert!(!tolerates(
        &toleration(json!({"key": "other", "operator": "Exists"})),
        &taint
    ));
    assert!(!tolerates(
        &toleration(json!({"key": "node.kubernetes.io/unreachable", "value": "x"})),
        &taint
    ));
}

#[test]
fn required_node_affinity_filters_like_a_selector() {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1", "labels": {"zone": "a", "gen": "5"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }))
    .unwrap();
    let info = NodeInfo::new(node);
    let with_terms = |terms: serde_json::Value| {
        pod(json!({
            "containers": [],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": terms,
            }}},
        }))
    };
    let fits = |terms| fit::unfit_reasons(&with_terms(terms), &info).is_empty();
    assert!(fits(
        json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}])
    ));
    assert!(fits(
        json!([{"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]}]}])
    ));
    assert!(fits(
        json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])
    ));
    assert!(fits(json!([
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z"]}]},
        {"matchExpressions": [{"key": "ssd", "operator": "DoesNotExist"}]},
    ])));
    assert!(!fits(
        json!([{"matchExpressions": [{"key": "gen", "operator": "Lt", "values": ["5"]}]}])
    ));
    assert!(!fits(
        json!([{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}])
    ));
    assert!(!fits(json!([{}])), "an empty term matches nothing");
    let reasons = fit::unfit_reasons(&with_terms(json!([{}])), &info);
    assert_eq!(reasons, [fit::REASON_SELECTOR]);
}

#[test]
fn host_ports_and_pod_count_are_checked() {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "allocatable": {"cpu": "1", "memory": "1Gi", "pods": "1"},
        },
    }))
    .unwrap();
    let mut info = NodeInfo::new(node);
    let with_port = pod(
        json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}),
    );
    assert!(fit::unfit_reasons(&with_port, &info).is_empty());
    info.add_pod(&with_port);
    assert_eq!(fit::unfit_reasons(&with_port, &info), [fit::REASON_PORTS]);
    let plain = pod(json!({"containers": [{"name": "c"}]}));
    assert_eq!(
        fit::unfit_reasons(&plain, &info),
        [fit::REASON_TOO_MANY_PODS]
    );
}

#[test]
fn messages_count_and_sort_reasons_like_kubernetes() {
    let mut reasons = BTreeMap::new();
    reasons.insert(fit::REASON_SELECTOR.to_string(), 1);
    reasons.insert(fit::REASON_MEMORY.to_string(), 1);
    assert_eq!(
        unschedulable_message(2, &reasons),
        "0/2 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector."
    );
    assert_eq!(
        unschedulable_message(0, &BTreeMap::new()),
        "no nodes available to schedule pods"
    );
}
