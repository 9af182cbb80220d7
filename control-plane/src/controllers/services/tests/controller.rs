//! The Endpoints controller, driven by store writes, and the nodes' watch streams.

use futures::StreamExt;
use serde_json::json;

use super::*;
use crate::controllers::nodes::NodeContext;
use crate::controllers::services::EndpointsController;
use crate::core::{ClusterConfig, ControlPlane};
use crate::frontdoor::node::watch_kind::watch_kind;
use crate::store::Key;

pub(super) fn context(store: Arc<dyn Store>) -> Arc<NodeContext> {
    let pki = crate::pki::Pki::load_or_create(
        tempfile::tempdir().unwrap().keep().as_path(),
        &[],
        "https://127.0.0.1:6443",
    )
    .unwrap();
    NodeContext::new(Arc::new(ControlPlane {
        store,
        pki: Arc::new(pki),
        config: ClusterConfig::default(),
    }))
}

pub(super) async fn put_pod(store: &dyn Store, name: &str, ip: &str, ready: bool, app: &str) {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": 80}]}]},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
    });
    let key = Key::new("Pod", "default", name);
    let bytes = serde_json::to_vec(&pod).unwrap();
    match store.get(&key).await.unwrap() {
        Some(stored) => store
            .update(key, bytes, Some(stored.revision))
            .await
            .map(|_| ()),
        None => store
            .create(key, format!("uid-{name}"), bytes)
            .await
            .map(|_| ()),
    }
    .unwrap();
}

/// Waits until the Endpoints `name` satisfy `check`, returning them.
async fn endpoints_until(store: &dyn Store, name: &str, check: impl Fn(&Value) -> bool) -> Value {
    let read = || get_json(store, "Endpoints", name);
    let what = format!("endpoints {name}");
    poll_until(&what, read, |e| e.as_ref().is_some_and(&check))
        .await
        .expect("checked")
}

fn ready_ips(ep: &Value) -> Vec<String> {
    ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
        .map(|a| a["ip"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn endpoints_follow_pods_readiness_and_labels_and_go_with_the_service() {
    let store = store().await;
    let ranges = Ranges::default();
    put_pod(store.as_ref(), "a", "10.42.0.5", true, "web").await;
    let controller = tokio::spawn(EndpointsController::new(context(store.clone())).run());
    apply_svc(
        store.as_ref(),
        &ranges,
        &service("web", "ClusterIP", PORT_8080, ""),
    )
    .await
    .unwrap();
    let ep = endpoints_until(store.as_ref(), "web", |e| ready_ips(e) == ["10.42.0.5"]).await;
    assert_eq!(
        ep["subsets"][0]["ports"][0],
        json!({"name": "web", "port": 80, "protocol": "TCP"})
    );
    assert_eq!(ep["subsets"][0]["addresses"][0]["targetRef"]["name"], "a");

    put_pod(store.as_ref(), "b", "10.42.0.6", false, "web").await;
    let ep = endpoints_until(store.as_ref(), "web", |e| {
        e["subsets"][0]["notReadyAddresses"][0]["ip"] == "10.42.0.6"
    })
    .await;
    assert_eq!(ready_ips(&ep), ["10.42.0.5"]);
    put_pod(store.as_ref(), "b", "10.42.0.6", true, "web").await;
    endpoints_until(store.as_ref(), "web", |e| {
        ready_ips(e) == ["10.42.0.5", "10.42.0.6"]
    })
    .await;
    // Relabelled away: out.
    put_pod(store.as_ref(), "a", "10.42.0.5", true, "db").await;
    endpoints_until(store.as_ref(), "web", |e| ready_ips(e) == ["10.42.0.6"]).await;
    store
        .delete(&Key::new("Pod", "default", "b"), None)
        .await
        .unwrap();
    let ep = endpoints_until(store.as_ref(), "web", |e| ready_ips(e).is_empty()).await;
    assert!(ep.get("subsets").is_none(), "no pods: no subsets: {ep}");

    // A selector matching nothing still gets an (empty) Endpoints.
    apply_svc(
        store.as_ref(),
        &ranges,
        &service("nobody", "ClusterIP", PORT_8080, "").replace("app: web", "app: nothing"),
    )
    .await
    .unwrap();
    endpoints_until(store.as_ref(), "nobody", |e| e.get("subsets").is_none()).await;

    delete_svc(store.as_ref(), "web").await;
    tokio::time::timeout(TIMEOUT, async {
        while get_json(store.as_ref(), "Endpoints", "web").await.is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the service's endpoints go with it");
    controller.abort();
}

#[tokio::test]
async fn a_missing_named_target_port_leaves_the_pod_out_with_a_warning_event() {
    let store = store().await;
    put_pod(store.as_ref(), "a", "10.42.0.5", true, "web").await;
    let controller = tokio::spawn(EndpointsController::new(context(store.clone())).run());
    let ports = "    - name: web\n      port: 8080\n      targetPort: metrics\n";
    apply_svc(
        store.as_ref(),
        &Ranges::default(),
        &service("web", "ClusterIP", ports, ""),
    )
    .await
    .unwrap();
    endpoints_until(store.as_ref(), "web", |e| e.get("subsets").is_none()).await;
    let events = tokio::time::timeout(TIMEOUT, async {
        loop {
            let (events, _) = store.list("Event", Some("default")).await.unwrap();
            if let Some(event) = events.first() {
                return serde_json::from_slice::<Value>(&event.json).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a warning event");
    assert_eq!(events["type"], "Warning");
    assert_eq!(events["involvedObject"]["name"], "web");
    assert!(
        events["message"]
            .as_str()
            .unwrap()
            .contains("no container declares a TCP port named \"metrics\""),
        "{events}"
    );
    controller.abort();
}

async fn next(
    s: &mut crate::frontdoor::node::watch_kind::ObjectEvents,
) -> skiff_proto::v1::WatchEvent {
    tokio::time::timeout(TIMEOUT, s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn the_services_watch_lists_then_follows_and_resumes_from_a_revision() {
    let store = store().await;
    let ranges = Ranges::default();
    apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "ClusterIP", PORT_8080, ""),
    )
    .await
    .unwrap();
    let mut stream = watch_kind(store.as_ref(), "Service", "").await.unwrap();
    let added = next(&mut stream).await;
    assert_eq!(
        (added.r#type.as_str(), added.object.unwrap().name.as_str()),
        ("ADDED", "a")
    );
    let bookmark = next(&mut stream).await;
    assert_eq!(bookmark.r#type, "BOOKMARK");
    apply_svc(
        store.as_ref(),
        &ranges,
        &service("b", "ClusterIP", PORT_8080, ""),
    )
    .await
    .unwrap();
    let b = next(&mut stream).await;
    assert_eq!(
        (b.r#type.as_str(), b.object.as_ref().unwrap().name.as_str()),
        ("ADDED", "b")
    );
    delete_svc(store.as_ref(), "a").await;
    let gone = next(&mut stream).await;
    assert_eq!(
        (gone.r#type.as_str(), gone.object.unwrap().name.as_str()),
        ("DELETED", "a")
    );
    drop(stream);
    // Resumed from b's revision: only what came after.
    let mut resumed = watch_kind(store.as_ref(), "Service", &b.resource_version)
        .await
        .unwrap();
    let first = next(&mut resumed).await;
    assert_eq!(
        (first.r#type.as_str(), first.object.unwrap().name.as_str()),
        ("DELETED", "a")
    );
    let err = watch_kind(store.as_ref(), "Service", "x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a revision"), "{err}");
}
