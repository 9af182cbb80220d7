//! The node lifecycle controller under a manual clock (grace 5 s, eviction 30 s).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node};
use serde_json::{json, Value};

use super::{bound_pod, eventually, Fixture, START};
use crate::controllers::nodes::{spawn_background_with, LifecycleController};
use crate::core::objects::{decode, node_condition, node_key};
use crate::frontdoor::node::heartbeat::heartbeat;

fn ready_pod(name: &str, node: &str) -> Value {
    let mut pod = bound_pod(name, node);
    pod["status"] = json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
    });
    pod
}

fn tolerating(mut pod: Value, seconds: Option<i64>) -> Value {
    let mut toleration = json!({
        "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
    });
    if let Some(s) = seconds {
        toleration["tolerationSeconds"] = s.into();
    }
    pod["spec"]["tolerations"] = json!([toleration]);
    pod
}

/// Moves the clock `secs` forward in 2 s steps, heartbeating the `alive` nodes.
async fn advance(fx: &Fixture, secs: u64, alive: &[&str]) {
    for _ in 0..secs / 2 {
        fx.clock.advance(Duration::from_secs(2));
        for node in alive {
            heartbeat(&fx.ctx, node).await.unwrap();
        }
    }
    fx.clock.advance(Duration::from_secs(secs % 2));
}

async fn ready_status(fx: &Fixture, node: &str) -> (String, Option<String>, Option<String>) {
    let node = fx.node(node).await;
    let c = node_condition(&node, "Ready").unwrap();
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

async fn pod_ready(fx: &Fixture, name: &str) -> Option<String> {
    let pod = fx.pod("default", name).await?;
    let conditions = pod.status?.conditions?;
    conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status)
}

async fn exists(fx: &Fixture, name: &str) -> bool {
    fx.pod("default", name).await.is_some()
}

#[tokio::test]
async fn a_silent_node_goes_not_ready_and_its_pods_are_evicted() {
    let fx = Fixture::new();
    fx.register("n1").await;
    fx.register("n2").await;
    fx.create_pod(ready_pod("bare", "n1")).await;
    let mut owned = ready_pod("web-0", "n1");
    owned["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs", "controller": true,
    }]);
    fx.create_pod(owned).await;
    let mut daemon = ready_pod("ds", "n1");
    daemon["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "ds", "controller": true,
    }]);
    fx.create_pod(daemon).await;
    fx.create_pod(tolerating(ready_pod("tolerant", "n1"), Some(60)))
        .await;
    fx.create_pod(tolerating(ready_pod("forever", "n1"), None))
        .await;
    fx.create_pod(ready_pod("safe", "n2")).await;
    let controller = LifecycleController::new(fx.ctx.clone());

    advance(&fx, 4, &["n2"]).await;
    controller.pass().await.unwrap();
    assert_eq!(
        ready_status(&fx, "n1").await.0,
        "True",
        "within the grace period"
    );

    advance(&fx, 2, &["n2"]).await;
    controller.pass().await.unwrap();
    assert_eq!(
        ready_status(&fx, "n1").await,
        (
            "Unknown".into(),
            Some("NodeStatusUnknown".into()),
            Some("Kubelet stopped posting node status.".into())
        )
    );
    assert_eq!(ready_status(&fx, "n2").await.0, "True");
    assert_eq!(pod_ready(&fx, "bare").await.as_deref(), Some("False"));
    assert_eq!(pod_ready(&fx, "safe").await.as_deref(), Some("True"));
    let (events, _) = fx.store().list("Event", Some("default")).await.unwrap();
    let events: Vec<Event> = events.iter().map(|s| decode(s).unwrap()).collect();
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("NodeNotReady")
                && e.message.as_deref() == Some("Node n1 status is now: NodeNotReady")),
        "{events:?}"
    );

    advance(&fx, 28, &["n2"]).await;
    controller.pass().await.unwrap();
    assert!(exists(&fx, "bare").await, "not yet: 28 s of 30");

    advance(&fx, 2, &["n2"]).await;
    controller.pass().await.unwrap();
    for (name, kept) in [
        ("bare", false),
        ("web-0", false),
        ("ds", true),
        ("tolerant", true),
        ("forever", true),
        ("safe", true),
    ] {
        assert_eq!(exists(&fx, name).await, kept, "{name}");
    }
    advance(&fx, 30, &["n2"]).await;
    controller.pass().await.unwrap();
    assert!(!exists(&fx, "tolerant").await, "its own 60 s are up");
    assert!(exists(&fx, "forever").await);

    heartbeat(&fx.ctx, "n1").await.unwrap();
    assert_eq!(ready_status(&fx, "n1").await.0, "True");
}

#[tokio::test]
async fn a_node_that_never_heartbeated_goes_unknown_and_orphans_are_collected() {
    let fx = Fixture::new();
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "applied", "creationTimestamp": START},
    });
    fx.store()
        .create(
            node_key("applied"),
            "uid-applied".into(),
            serde_json::to_vec(&node).unwrap(),
        )
        .await
        .unwrap();
    fx.create_pod(bound_pod("orphan", "ghost")).await;
    let controller = LifecycleController::new(fx.ctx.clone());
    controller.pass().await.unwrap();
    assert!(exists(&fx, "orphan").await);

    advance(&fx, 6, &[]).await;
    controller.pass().await.unwrap();
    assert_eq!(
        ready_status(&fx, "applied").await.2.as_deref(),
        Some("Kubelet never posted node status.")
    );
    assert!(!exists(&fx, "orphan").await, "its node is gone for good");
}

#[tokio::test]
async fn the_running_controller_follows_the_clock() {
    let fx = Fixture::new();
    fx.register("n1").await;
    fx.register("n2").await;
    fx.create_pod(ready_pod("p", "n1")).await;
    let tasks = spawn_background_with(fx.ctx.clone());

    advance(&fx, 6, &["n2"]).await;
    eventually("n1 to go NotReady", || async {
        ready_status(&fx, "n1").await.0 == "Unknown"
    })
    .await;
    assert!(exists(&fx, "p").await);
    advance(&fx, 32, &["n2"]).await;
    eventually("p to be evicted", || async { !exists(&fx, "p").await }).await;
    let node: Node = decode(&fx.store().get(&node_key("n1")).await.unwrap().unwrap()).unwrap();
    assert_eq!(node_condition(&node, "Ready").unwrap().status, "Unknown");
    for task in tasks {
        task.abort();
    }
}

#[tokio::test]
async fn with_no_eviction_delay_one_pass_marks_and_evicts() {
    let config = crate::core::ClusterConfig {
        pod_eviction: Duration::ZERO,
        ..super::config()
    };
    let fx = Fixture::with(
        config,
        std::sync::Arc::new(crate::store::MemoryStore::new()),
    );
    fx.register("n1").await;
    fx.register("n2").await;
    fx.create_pod(ready_pod("p", "n1")).await;
    let controller = LifecycleController::new(fx.ctx.clone());
    advance(&fx, 6, &["n2"]).await;
    controller.pass().await.unwrap();
    assert_eq!(ready_status(&fx, "n1").await.0, "Unknown");
    assert!(
        !exists(&fx, "p").await,
        "evicted after being marked not ready"
    );
}

#[tokio::test]
async fn evictions_pause_while_no_node_is_ready() {
    let fx = Fixture::new();
    fx.register("n1").await;
    fx.create_pod(ready_pod("p", "n1")).await;
    let controller = LifecycleController::new(fx.ctx.clone());
    advance(&fx, 6, &[]).await;
    controller.pass().await.unwrap();
    assert_eq!(ready_status(&fx, "n1").await.0, "Unknown");
    advance(&fx, 60, &[]).await;
    controller.pass().await.unwrap();
    assert!(
        exists(&fx, "p").await,
        "the only node is down: nowhere better to go"
    );

    // Another node comes up: the cluster works again, and n1's pods are evicted.
    fx.register("n2").await;
    controller.pass().await.unwrap();
    assert!(!exists(&fx, "p").await);
}

#[tokio::test]
async fn a_restarted_controller_gives_nodes_a_full_grace_period() {
    let fx = Fixture::new();
    fx.register("n1").await;
    fx.register("n2").await;
    fx.create_pod(ready_pod("p", "n1")).await;
    // The control plane was down for 100 s; n2 has reconnected since, n1 not yet.
    fx.clock.advance(Duration::from_secs(100));
    heartbeat(&fx.ctx, "n2").await.unwrap();
    let controller = LifecycleController::new(fx.ctx.clone());
    controller.pass().await.unwrap();
    assert_eq!(
        ready_status(&fx, "n1").await.0,
        "True",
        "n1 gets its grace period"
    );

    advance(&fx, 6, &["n2"]).await;
    controller.pass().await.unwrap();
    assert_eq!(ready_status(&fx, "n1").await.0, "Unknown");
    advance(&fx, 28, &["n2"]).await;
    controller.pass().await.unwrap();
    assert!(exists(&fx, "p").await);
    advance(&fx, 2, &["n2"]).await;
    controller.pass().await.unwrap();
    assert!(!exists(&fx, "p").await);

    // Already NotReady when a controller starts: still a full eviction delay from its start.
    fx.create_pod(ready_pod("q", "n1")).await;
    advance(&fx, 60, &["n2"]).await;
    let restarted = LifecycleController::new(fx.ctx.clone());
    restarted.pass().await.unwrap();
    assert!(
        exists(&fx, "q").await,
        "not evicted on a restart's first pass"
    );
    advance(&fx, 30, &["n2"]).await;
    restarted.pass().await.unwrap();
    assert!(!exists(&fx, "q").await);
}
