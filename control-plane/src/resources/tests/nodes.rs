//! Cordon, Taint and Evict (`nodes.rs`, `evict.rs`).

use k8s_openapi::api::core::v1::Taint;
use tonic::Code;

use super::*;
use crate::core::Ranges;

const NODE: &str = "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n";

fn ranges() -> Ranges {
    crate::core::ClusterConfig::default().service_ranges()
}

fn no_execute(key: &str) -> Taint {
    Taint {
        key: key.into(),
        effect: "NoExecute".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn cordon_says_whether_it_changed_anything() {
    let store = store().await;
    apply_ok(store.as_ref(), NODE).await;
    let (node, changed) = cordon(store.as_ref(), &SystemClock, &ranges(), "n1", true)
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(json(&node)["spec"]["unschedulable"], true);
    let (_, changed) = cordon(store.as_ref(), &SystemClock, &ranges(), "n1", true)
        .await
        .unwrap();
    assert!(!changed);
    let (node, changed) = cordon(store.as_ref(), &SystemClock, &ranges(), "n1", false)
        .await
        .unwrap();
    assert!(changed);
    assert!(json(&node)["spec"].get("unschedulable").is_none());
    let err = cordon(store.as_ref(), &SystemClock, &ranges(), "nope", true)
        .await
        .unwrap_err();
    assert_eq!(code(err), Code::NotFound);
}

/// Taint on node n1 of `store`.
async fn taint_n1(
    store: &dyn Store,
    add: &[Taint],
    remove: &[Taint],
    overwrite: bool,
) -> Result<(WireObject, TaintOperation), Error> {
    taint(store, &SystemClock, &ranges(), "n1", add, remove, overwrite).await
}

#[tokio::test]
async fn taints_are_added_kept_and_removed() {
    let store = store().await;
    apply_ok(store.as_ref(), NODE).await;
    let s = store.as_ref();
    let a = [no_execute("a")];
    let (node, op) = taint_n1(s, &a, &[], false).await.unwrap();
    assert_eq!(op, TaintOperation::Tainted);
    let added = json(&node)["spec"]["taints"][0]["timeAdded"].clone();
    assert!(added.is_string(), "{node:?}");
    let err = taint_n1(s, &a, &[], false).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node n1 already has a taint(s) with same effect(s) and --overwrite is false"
    );
    // Overwriting with the same taint keeps when it was added.
    let (node, op) = taint_n1(s, &a, &[], true).await.unwrap();
    assert_eq!(op, TaintOperation::Modified);
    assert_eq!(json(&node)["spec"]["taints"][0]["timeAdded"], added);
    let by_key = [Taint {
        key: "a".into(),
        ..Default::default()
    }];
    let (node, op) = taint_n1(s, &[], &by_key, false).await.unwrap();
    assert_eq!(op, TaintOperation::Untainted);
    assert!(json(&node)["spec"].get("taints").is_none(), "{node:?}");
    let err = taint_n1(s, &[], &by_key, false).await.unwrap_err();
    assert_eq!(code(err), Code::NotFound);
}

#[tokio::test]
async fn evict_deletes_the_pod_with_the_grace_period_asked_for() {
    let store = store().await;
    apply_ok(store.as_ref(), NGINX_POD).await;
    let last = evict(
        store.as_ref(),
        &SystemClock,
        "default",
        "my-nginx-pod",
        Some(5),
    )
    .await
    .unwrap();
    assert_eq!(json(&last)["metadata"]["deletionGracePeriodSeconds"], 5);
    assert!(json(&last)["metadata"]["deletionTimestamp"].is_string());
    let key = Kind::resolve("Pod").unwrap().key("default", "my-nginx-pod");
    assert!(store.get(&key).await.unwrap().is_none());
    let err = evict(
        store.as_ref(),
        &SystemClock,
        "default",
        "my-nginx-pod",
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(code(err), Code::NotFound);
}

#[tokio::test]
async fn mirror_pods_are_not_evicted() {
    let store = store().await;
    let key = Kind::resolve("Pod").unwrap().key("default", "static-n1");
    let mirror = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "static-n1", "namespace": "default",
                     "annotations": {"kubernetes.io/config.mirror": "abc"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
    });
    store
        .create(
            key.clone(),
            "u".into(),
            serde_json::to_vec(&mirror).unwrap(),
        )
        .await
        .unwrap();
    let err = evict(store.as_ref(), &SystemClock, "default", "static-n1", None)
        .await
        .unwrap_err();
    assert_eq!(code(err), Code::FailedPrecondition);
    assert!(store.get(&key).await.unwrap().is_some());
}
