//! Finding a pod's agent: the errors a user reads before anything is dialed.

use serde_json::json;

use super::{locate, AGENT_PORT};
use crate::core::Error;
use crate::store::{Key, MemoryStore, Store};

async fn put(store: &MemoryStore, kind: &str, ns: &str, name: &str, value: serde_json::Value) {
    store
        .create(
            Key::new(kind, ns, name),
            format!("uid-{name}"),
            serde_json::to_vec(&value).unwrap(),
        )
        .await
        .unwrap();
}

/// Stores a pod in `default`, bound to `node` when given; `mirror` makes it a mirror pod.
async fn put_pod(store: &MemoryStore, name: &str, node: Option<&str>, mirror: bool) {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Pending"}
    });
    if let Some(node) = node {
        pod["spec"]["nodeName"] = json!(node);
    }
    if mirror {
        pod["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "abc"});
    }
    put(store, "Pod", "default", name, pod).await;
}

/// Stores a node reporting its hostname and, when given, an InternalIP.
async fn put_node(store: &MemoryStore, name: &str, ip: Option<&str>) {
    let addresses: Vec<_> = ip
        .into_iter()
        .map(|ip| json!({"type": "InternalIP", "address": ip}))
        .chain([json!({"type": "Hostname", "address": name})])
        .collect();
    let node = json!({"metadata": {"name": name}, "status": {"addresses": addresses}});
    put(store, "Node", "", name, node).await;
}

#[tokio::test]
async fn a_scheduled_pod_leads_to_its_nodes_internal_ip() {
    let store = MemoryStore::new();
    put_node(&store, "n1", Some("10.0.0.7")).await;
    put_pod(&store, "web", Some("n1"), false).await;
    let target = locate(&store, "", "web").await.unwrap();
    assert_eq!(target.node, "n1");
    assert_eq!(
        target.socket_addr().to_string(),
        format!("10.0.0.7:{AGENT_PORT}")
    );
    assert_eq!(
        (target.namespace.as_str(), target.pod.as_str()),
        ("default", "web")
    );
}

#[tokio::test]
async fn a_mirror_pod_is_its_static_pod_on_the_node() {
    let store = MemoryStore::new();
    put_node(&store, "n1", Some("10.0.0.7")).await;
    put_pod(&store, "etcd-n1", Some("n1"), true).await;
    put_pod(&store, "app-n1", Some("n1"), false).await;
    assert_eq!(
        locate(&store, "default", "etcd-n1").await.unwrap().pod,
        "etcd"
    );
    assert_eq!(
        locate(&store, "default", "app-n1").await.unwrap().pod,
        "app-n1"
    );
}

#[tokio::test]
async fn clear_errors_before_dialing() {
    let store = MemoryStore::new();
    put_pod(&store, "pending", None, false).await;
    put_pod(&store, "orphan", Some("gone"), false).await;
    put_node(&store, "bare", None).await;
    put_pod(&store, "nowhere", Some("bare"), false).await;

    let err = locate(&store, "default", "missing").await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("\"missing\" not found")),
        "{err:?}"
    );
    let err = locate(&store, "default", "pending").await.unwrap_err();
    assert!(
        matches!(&err, Error::FailedPrecondition(m) if m.contains("not scheduled") && m.contains("describe pod pending")),
        "{err:?}"
    );
    let err = locate(&store, "default", "orphan").await.unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable(m) if m.contains("node gone")),
        "{err:?}"
    );
    // A node that reported only a hostname: nothing to dial.
    let err = locate(&store, "default", "nowhere").await.unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable(m) if m.contains("no InternalIP")),
        "{err:?}"
    );
}
