//! Mirror pods against the in-memory store: made, kept current, removed with their
//! static pod, made again after a delete, and never taking over a user's pod.

use crate::resources::Object;
use serde_json::{json, Value};

use super::{sync, Synced, MIRROR_ANNOTATION};
use crate::core::SystemClock;
use crate::store::{Key, MemoryStore, Store};

fn static_pod(name: &str, phase: &str) -> Object {
    let pod = json!({
        "metadata": {"name": name, "namespace": "kube-system", "uid": format!("static-{name}"),
                     "annotations": {"kubernetes.io/config.source": "file"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": phase}
    });
    Object {
        kind: "Pod".into(),
        namespace: "kube-system".into(),
        name: name.into(),
        json: serde_json::to_vec(&pod).unwrap(),
        ..Default::default()
    }
}

/// A store with the system namespaces, as the control plane starts.
async fn bootstrapped() -> MemoryStore {
    let store = MemoryStore::new();
    crate::resources::bootstrap(&store, &SystemClock)
        .await
        .unwrap();
    store
}

async fn stored(store: &MemoryStore, name: &str) -> Option<Value> {
    let got = store
        .get(&Key::new("Pod", "kube-system", name))
        .await
        .unwrap()?;
    Some(serde_json::from_slice(&got.json).unwrap())
}

#[tokio::test]
async fn mirrors_follow_the_static_set() {
    let store = bootstrapped().await;
    let synced = sync(&store, &SystemClock, "n1", &[static_pod("etcd", "Pending")])
        .await
        .unwrap();
    assert_eq!(
        synced,
        Synced {
            created: 1,
            ..Default::default()
        }
    );
    let mirror = stored(&store, "etcd-n1").await.expect("mirror made");
    assert_eq!(mirror["spec"]["nodeName"], "n1");
    assert_eq!(
        mirror["metadata"]["annotations"][MIRROR_ANNOTATION],
        "static-etcd"
    );
    assert_eq!(mirror["status"]["phase"], "Pending");
    assert!(
        mirror["metadata"]["uid"].is_string(),
        "the API serves the uid from the JSON"
    );

    // The same set again changes nothing; a new status is written.
    let again = sync(&store, &SystemClock, "n1", &[static_pod("etcd", "Pending")])
        .await
        .unwrap();
    assert_eq!(again, Synced::default());
    let running = sync(&store, &SystemClock, "n1", &[static_pod("etcd", "Running")])
        .await
        .unwrap();
    assert_eq!(running.updated, 1);
    assert_eq!(
        stored(&store, "etcd-n1").await.unwrap()["status"]["phase"],
        "Running"
    );
    assert_eq!(
        stored(&store, "etcd-n1").await.unwrap()["metadata"]["creationTimestamp"],
        mirror["metadata"]["creationTimestamp"],
        "the creation time stays"
    );

    // Deleted through the API: the next sync makes it again.
    store
        .delete(&Key::new("Pod", "kube-system", "etcd-n1"), None)
        .await
        .unwrap();
    let remade = sync(&store, &SystemClock, "n1", &[static_pod("etcd", "Running")])
        .await
        .unwrap();
    assert_eq!(remade.created, 1);
    let uid = &stored(&store, "etcd-n1").await.unwrap()["metadata"]["uid"];
    assert_ne!(uid, &mirror["metadata"]["uid"], "a new mirror, a new uid");

    // The manifest goes: so does the mirror; another node's mirrors stay.
    sync(&store, &SystemClock, "n2", &[static_pod("etcd", "Running")])
        .await
        .unwrap();
    let gone = sync(&store, &SystemClock, "n1", &[]).await.unwrap();
    assert_eq!(gone.deleted, 1);
    assert!(stored(&store, "etcd-n1").await.is_none());
    assert!(stored(&store, "etcd-n2").await.is_some());
}

#[tokio::test]
async fn a_users_pod_of_the_same_name_is_left_alone() {
    let store = bootstrapped().await;
    let user = json!({"metadata": {"name": "etcd-n1", "namespace": "kube-system"},
                      "spec": {"containers": [{"name": "c", "image": "x"}]}});
    store
        .create(
            Key::new("Pod", "kube-system", "etcd-n1"),
            "u1".into(),
            serde_json::to_vec(&user).unwrap(),
        )
        .await
        .unwrap();
    let synced = sync(&store, &SystemClock, "n1", &[static_pod("etcd", "Running")])
        .await
        .unwrap();
    assert_eq!(synced, Synced::default());
    let kept = stored(&store, "etcd-n1").await.unwrap();
    assert_eq!(kept["spec"]["containers"][0]["image"], "x");
    let none = sync(&store, &SystemClock, "n1", &[]).await.unwrap();
    assert_eq!(none.deleted, 0, "a user's pod is not a mirror to delete");
}

/// As Kubernetes' namespace admission refuses a kubelet's mirror pod: no mirror in a
/// namespace that does not exist or is being deleted; the other static pods still are.
#[tokio::test]
async fn no_mirror_in_a_namespace_missing_or_being_deleted() {
    let store = bootstrapped().await;
    let mut elsewhere = static_pod("probe", "Running");
    let mut pod: Value = serde_json::from_slice(&elsewhere.json).unwrap();
    pod["metadata"]["namespace"] = "monitoring".into();
    elsewhere.namespace = "monitoring".into();
    elsewhere.json = serde_json::to_vec(&pod).unwrap();
    let synced = sync(
        &store,
        &SystemClock,
        "n1",
        &[elsewhere.clone(), static_pod("etcd", "Running")],
    )
    .await
    .unwrap();
    assert_eq!(synced.created, 1, "{synced:?}");
    let probe = Key::new("Pod", "monitoring", "probe-n1");
    assert!(store.get(&probe).await.unwrap().is_none());

    let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "monitoring", "deletionTimestamp": "2025-01-01T00:00:00Z"},
        "status": {"phase": "Terminating"}});
    store
        .create(
            Key::new("Namespace", "", "monitoring"),
            "ns-uid".into(),
            serde_json::to_vec(&namespace).unwrap(),
        )
        .await
        .unwrap();
    sync(&store, &SystemClock, "n1", &[elsewhere])
        .await
        .unwrap();
    assert!(store.get(&probe).await.unwrap().is_none());
}
