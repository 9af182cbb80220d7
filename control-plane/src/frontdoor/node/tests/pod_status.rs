//! UpdatePodStatus below the gRPC layer.

use serde_json::{json, Value};
use skiff_proto::v1::Object;
use tonic::{Code, Status};

use super::{bound_pod, Fixture};
use crate::core::objects::pod_key;
use crate::frontdoor::node::pod_status::{update_one, update_pod_status, StatusUpdate};

/// What an agent sends: the pod as it knows it, with its status.
fn report(name: &str, uid: &str, status: Value) -> Object {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        // An agent's idea of the spec is ignored.
        "spec": {"containers": [{"name": "other", "image": "other"}]},
        "status": status,
    });
    Object {
        kind: "Pod".into(),
        namespace: "default".into(),
        name: name.into(),
        uid: uid.into(),
        json: serde_json::to_vec(&pod).unwrap(),
        ..Default::default()
    }
}

fn running() -> Value {
    json!({
        "phase": "Running", "podIP": "10.42.0.5",
        "conditions": [{"type": "Ready", "status": "True"}],
    })
}

async fn stored(fx: &Fixture, name: &str) -> (Value, i64) {
    let s = fx
        .store()
        .get(&pod_key("default", name))
        .await
        .unwrap()
        .unwrap();
    (serde_json::from_slice(&s.json).unwrap(), s.revision)
}

#[tokio::test]
async fn only_the_status_is_replaced_and_scheduling_is_kept() {
    let fx = Fixture::new();
    let mut pod = bound_pod("p", "n1");
    pod["status"] = json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
    });
    fx.create_pod(pod).await;
    let (before, _) = stored(&fx, "p").await;

    let outcome = update_one(&fx.ctx, "n1", &report("p", "uid-p", running())).await;
    assert_eq!(outcome.unwrap(), StatusUpdate::Written);
    let (after, revision) = stored(&fx, "p").await;
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(after["metadata"], before["metadata"]);
    assert_eq!(after["status"]["phase"], "Running");
    assert_eq!(after["status"]["podIP"], "10.42.0.5");
    let types: Vec<&str> = after["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Ready", "PodScheduled"]);

    // The same status again: no write.
    let outcome = update_one(&fx.ctx, "n1", &report("p", "uid-p", running())).await;
    assert_eq!(outcome.unwrap(), StatusUpdate::Unchanged);
    assert_eq!(stored(&fx, "p").await.1, revision);
}

#[tokio::test]
async fn other_nodes_pods_replaced_pods_and_bad_statuses_are_refused() {
    let fx = Fixture::new();
    fx.create_pod(bound_pod("theirs", "n2")).await;
    fx.create_pod(bound_pod("mine", "n1")).await;

    let err = update_one(&fx.ctx, "n1", &report("theirs", "uid-theirs", running()))
        .await
        .unwrap_err();
    assert_eq!(Status::from(err).code(), Code::PermissionDenied);

    // A pod recreated under the same name is not the one the agent reports about.
    let outcome = update_one(&fx.ctx, "n1", &report("mine", "old-uid", running())).await;
    assert_eq!(outcome.unwrap(), StatusUpdate::Gone);
    let outcome = update_one(&fx.ctx, "n1", &report("deleted", "x", running())).await;
    assert_eq!(outcome.unwrap(), StatusUpdate::Gone);

    let bad = report("mine", "uid-mine", json!({"phase": 5}));
    let err = update_one(&fx.ctx, "n1", &bad).await.unwrap_err();
    assert_eq!(Status::from(err).code(), Code::InvalidArgument);

    // A batch: the good one is applied, the first error is reported.
    let batch = [
        report("theirs", "uid-theirs", running()),
        report("mine", "uid-mine", running()),
    ];
    let err = update_pod_status(&fx.ctx, "n1", &batch).await.unwrap_err();
    assert_eq!(Status::from(err).code(), Code::PermissionDenied);
    assert_eq!(stored(&fx, "mine").await.0["status"]["phase"], "Running");
    assert_eq!(stored(&fx, "theirs").await.0["status"]["phase"], "Pending");
}
