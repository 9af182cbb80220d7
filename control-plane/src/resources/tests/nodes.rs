//! Evict (`evict.rs`).

use tonic::Code;

use super::*;

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
