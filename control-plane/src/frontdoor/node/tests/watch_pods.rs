//! WatchPods: the node's view of pod events, and resuming it.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use skiff_proto::v1::WatchEvent;
use tonic::Code;

use super::{bound_pod, pod, Fixture};
use crate::core::objects::pod_key;
use crate::frontdoor::node::watch_pods::{watch_pods, PodEvents};

async fn next(stream: &mut PodEvents) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream goes on")
        .expect("not an error")
}

async fn assert_quiet(stream: &mut PodEvents) {
    if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
        panic!("unexpected event {event:?}");
    }
}

/// (type, pod name, resourceVersion), and the JSON's own resourceVersion must agree.
fn summary(event: &WatchEvent) -> (String, String, String) {
    let name = event
        .object
        .as_ref()
        .map(|o| o.name.clone())
        .unwrap_or_default();
    if let Some(object) = &event.object {
        let json: Value = serde_json::from_slice(&object.json).unwrap();
        assert_eq!(
            json["metadata"]["resourceVersion"],
            event.resource_version.as_str()
        );
        assert_eq!(object.resource_version, event.resource_version);
        assert!(!object.uid.is_empty());
    }
    (event.r#type.clone(), name, event.resource_version.clone())
}

fn s(kind: &str, name: &str, rv: i64) -> (String, String, String) {
    (kind.into(), name.into(), rv.to_string())
}

async fn bind(fx: &Fixture, name: &str, node: &str) -> i64 {
    fx.edit(pod_key("default", name), |v| {
        v["spec"]["nodeName"] = node.into()
    })
    .await
}

async fn relabel(fx: &Fixture, name: &str, value: &str) -> i64 {
    fx.edit(pod_key("default", name), |v| {
        v["metadata"]["labels"] = serde_json::json!({"v": value})
    })
    .await
}

async fn delete(fx: &Fixture, name: &str) -> i64 {
    fx.store()
        .delete(&pod_key("default", name), None)
        .await
        .unwrap()
        .revision
}

#[tokio::test]
async fn lists_the_nodes_pods_then_follows_binding_changes_and_deletion() {
    let fx = Fixture::new();
    let a = fx.create_pod(bound_pod("a", "n1")).await;
    fx.create_pod(bound_pod("b", "n2")).await;
    fx.create_pod(pod("c")).await;
    let listed = fx.store().current_revision().await.unwrap();

    let mut stream = watch_pods(&fx.ctx, "n1", "").await.unwrap();
    assert_eq!(summary(&next(&mut stream).await), s("ADDED", "a", a));
    assert_eq!(summary(&next(&mut stream).await), s("BOOKMARK", "", listed));

    let c = bind(&fx, "c", "n1").await;
    assert_eq!(summary(&next(&mut stream).await), s("ADDED", "c", c));
    relabel(&fx, "b", "x").await;
    let a2 = relabel(&fx, "a", "x").await;
    assert_eq!(summary(&next(&mut stream).await), s("MODIFIED", "a", a2));
    let gone = delete(&fx, "a").await;
    let event = next(&mut stream).await;
    assert_eq!(summary(&event), s("DELETED", "a", gone));
    let last: Value = serde_json::from_slice(&event.object.unwrap().json).unwrap();
    assert_eq!(last["metadata"]["labels"]["v"], "x", "the pod's last state");
    delete(&fx, "b").await;
    assert_quiet(&mut stream).await;
}

#[tokio::test]
async fn a_resumed_watch_misses_nothing() {
    let fx = Fixture::new();
    fx.create_pod(bound_pod("a", "n1")).await;
    fx.create_pod(pod("e")).await;
    let mut continuous = watch_pods(&fx.ctx, "n1", "").await.unwrap();
    let mut first = watch_pods(&fx.ctx, "n1", "").await.unwrap();
    for stream in [&mut continuous, &mut first] {
        assert_eq!(next(stream).await.r#type, "ADDED");
        assert_eq!(next(stream).await.r#type, "BOOKMARK");
    }
    let d = fx.create_pod(bound_pod("d", "n1")).await;
    let seen = summary(&next(&mut first).await);
    assert_eq!(seen, s("ADDED", "d", d));
    drop(first); // the agent's connection drops here

    let e = bind(&fx, "e", "n1").await;
    let d2 = relabel(&fx, "d", "2").await;
    let a2 = relabel(&fx, "a", "2").await;
    fx.create_pod(bound_pod("f", "n2")).await;
    let a3 = delete(&fx, "a").await;

    let mut resumed = watch_pods(&fx.ctx, "n1", &seen.2).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(summary(&next(&mut resumed).await));
    }
    assert_quiet(&mut resumed).await;
    // The first event about a pod after a resume is ADDED: the server cannot know which
    // pods the agent already held (agents treat ADDED of a known pod as an update).
    assert_eq!(
        got,
        [
            s("ADDED", "e", e),
            s("ADDED", "d", d2),
            s("ADDED", "a", a2),
            s("DELETED", "a", a3),
        ]
    );

    let mut all = Vec::new();
    for _ in 0..5 {
        all.push(summary(&next(&mut continuous).await));
    }
    let names = |v: &[(String, String, String)]| -> Vec<(String, String)> {
        v.iter().map(|(_, n, rv)| (n.clone(), rv.clone())).collect()
    };
    let kinds: Vec<&str> = all.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(kinds, ["ADDED", "ADDED", "MODIFIED", "MODIFIED", "DELETED"]);
    assert_eq!(
        names(&all[1..]),
        names(&got),
        "the same events as an unbroken watch"
    );
}

#[tokio::test]
async fn a_compacted_or_malformed_resume_point_is_refused() {
    let fx = Fixture::new();
    fx.create_pod(bound_pod("a", "n1")).await;
    fx.create_pod(bound_pod("b", "n1")).await;
    fx.store().compact(2).await.unwrap();
    let err = watch_pods(&fx.ctx, "n1", "1").await.unwrap_err();
    assert_eq!(tonic::Status::from(err).code(), Code::OutOfRange);
    let err = watch_pods(&fx.ctx, "n1", "latest").await.unwrap_err();
    assert_eq!(tonic::Status::from(err).code(), Code::InvalidArgument);
    assert!(watch_pods(&fx.ctx, "n1", "2").await.is_ok());
}
