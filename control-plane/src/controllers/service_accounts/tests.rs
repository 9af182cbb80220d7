//! The namespace objects and the `kubernetes` Service, reconciled against `MemoryStore`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::kubernetes_service::KubernetesServiceController;
use super::*;
use crate::controllers::Reconciler;
use crate::resources::objects::to_bytes;
use crate::store::{MemoryStore, Store};

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

async fn fixture() -> (Arc<dyn Store>, ServiceAccountsController) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    crate::resources::bootstrap(store.as_ref(), &crate::core::SystemClock)
        .await
        .unwrap();
    let ctx = ControllerContext::new(store.clone());
    (
        store.clone(),
        ServiceAccountsController::new(ctx, CA.into()),
    )
}

async fn get(store: &dyn Store, kind: &str, ns: &str, name: &str) -> Option<Value> {
    let stored = store.get(&Key::new(kind, ns, name)).await.unwrap()?;
    Some(parse(&stored).unwrap())
}

async fn overwrite(
    store: &dyn Store,
    kind: &str,
    ns: &str,
    name: &str,
    edit: impl FnOnce(&mut Value),
) {
    let key = Key::new(kind, ns, name);
    let stored = store.get(&key).await.unwrap().unwrap();
    let mut value = parse(&stored).unwrap();
    edit(&mut value);
    store.update(key, to_bytes(&value), None).await.unwrap();
}

fn ns(name: &str) -> Key {
    Key::new("Namespace", "", name)
}

#[tokio::test]
async fn every_namespace_gets_its_account_and_ca_back() {
    let (store, controller) = fixture().await;
    let store = store.as_ref();
    controller.reconcile(&ns("default")).await.unwrap();
    let account = get(store, "ServiceAccount", "default", "default")
        .await
        .unwrap();
    assert_eq!(account["metadata"]["name"], "default");
    let cm = get(store, "ConfigMap", "default", ROOT_CA_CONFIGMAP)
        .await
        .unwrap();
    assert_eq!(cm["data"], json!({"ca.crt": CA}));
    assert_eq!(
        cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION],
        DESCRIPTION
    );

    // Deleted: made again, with a new uid.
    store
        .delete(&Key::new("ServiceAccount", "default", "default"), None)
        .await
        .unwrap();
    store
        .delete(&Key::new("ConfigMap", "default", ROOT_CA_CONFIGMAP), None)
        .await
        .unwrap();
    controller.reconcile(&ns("default")).await.unwrap();
    let again = get(store, "ServiceAccount", "default", "default")
        .await
        .unwrap();
    assert_ne!(again["metadata"]["uid"], account["metadata"]["uid"]);
    assert!(get(store, "ConfigMap", "default", ROOT_CA_CONFIGMAP)
        .await
        .is_some());

    // Changed: the data and the description come back, the user's labels stay.
    overwrite(store, "ConfigMap", "default", ROOT_CA_CONFIGMAP, |cm| {
        cm["data"] = json!({"ca.crt": "forged", "extra": "x"});
        cm["metadata"]["annotations"] = json!({});
        cm["metadata"]["labels"] = json!({"mine": "yes"});
    })
    .await;
    controller.reconcile(&ns("default")).await.unwrap();
    let cm = get(store, "ConfigMap", "default", ROOT_CA_CONFIGMAP)
        .await
        .unwrap();
    assert_eq!(cm["data"], json!({"ca.crt": CA}));
    assert_eq!(
        cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION],
        DESCRIPTION
    );
    assert_eq!(cm["metadata"]["labels"], json!({"mine": "yes"}));
}

#[tokio::test]
async fn a_terminating_namespace_gets_nothing() {
    let (store, controller) = fixture().await;
    let store = store.as_ref();
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "leaving", "uid": "u", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"phase": "Terminating"}});
    store
        .create(ns("leaving"), "u".into(), to_bytes(&namespace))
        .await
        .unwrap();
    controller.reconcile(&ns("leaving")).await.unwrap();
    assert!(get(store, "ServiceAccount", "leaving", "default")
        .await
        .is_none());
    assert!(get(store, "ConfigMap", "leaving", ROOT_CA_CONFIGMAP)
        .await
        .is_none());
    // A namespace that is gone is no error.
    controller.reconcile(&ns("never")).await.unwrap();
}

#[tokio::test]
async fn the_kubernetes_service_is_made_and_put_back() {
    let (store, _) = fixture().await;
    let ctx = ControllerContext::new(store.clone());
    let controller = KubernetesServiceController::new(
        ctx,
        "10.43.0.1".parse().unwrap(),
        "192.0.2.10:6443".parse().unwrap(),
    );
    let store = store.as_ref();
    let key = Key::new("Service", "default", "kubernetes");
    assert_eq!(controller.primary_key(&ns("kube-system")), key);
    controller.reconcile(&key).await.unwrap();
    let service = get(store, "Service", "default", "kubernetes")
        .await
        .unwrap();
    assert_eq!(service["spec"]["clusterIP"], "10.43.0.1");
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}])
    );
    assert_eq!(service["metadata"]["labels"]["component"], "apiserver");
    let endpoints = get(store, "Endpoints", "default", "kubernetes")
        .await
        .unwrap();
    assert_eq!(
        endpoints["subsets"],
        json!([{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}])
    );

    overwrite(store, "Service", "default", "kubernetes", |s| {
        s["spec"]["ports"][0]["port"] = json!(8443);
        s["spec"]["selector"] = json!({"app": "evil"});
    })
    .await;
    overwrite(store, "Endpoints", "default", "kubernetes", |e| {
        e["subsets"][0]["addresses"][0]["ip"] = json!("10.42.0.66");
    })
    .await;
    controller.reconcile(&key).await.unwrap();
    let service = get(store, "Service", "default", "kubernetes")
        .await
        .unwrap();
    assert_eq!(service["spec"]["ports"][0]["port"], 443);
    assert_eq!(service["spec"].get("selector"), None);
    let endpoints = get(store, "Endpoints", "default", "kubernetes")
        .await
        .unwrap();
    assert_eq!(endpoints["subsets"][0]["addresses"][0]["ip"], "192.0.2.10");

    store.delete(&key, None).await.unwrap();
    controller.reconcile(&key).await.unwrap();
    assert!(get(store, "Service", "default", "kubernetes")
        .await
        .is_some());
}

#[tokio::test]
async fn the_kubernetes_endpoints_list_every_live_server_sorted() {
    use crate::core::{Clock, ManualClock};
    use crate::leader::IdentityKeeper;
    use std::time::Duration;

    let (store, _) = fixture().await;
    let manual = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let ctx = Arc::new(ControllerContext {
        store: store.clone(),
        clock: clock.clone(),
    });
    let me: std::net::SocketAddr = "192.0.2.10:6443".parse().unwrap();
    let controller = KubernetesServiceController::new(ctx, "10.43.0.1".parse().unwrap(), me);
    let lease = Duration::from_secs(15);
    let keeper = |id: &str, address: &str| {
        IdentityKeeper::new(
            store.clone(),
            clock.clone(),
            id,
            address.parse().unwrap(),
            lease,
        )
    };
    let (own, other, third) = (
        keeper("me", "192.0.2.10:6443"),
        keeper("other", "192.0.2.9:6443"),
        keeper("third", "192.0.2.11:6443"),
    );
    for server in [&own, &other, &third] {
        server.renew().await.unwrap();
    }
    let key = Key::new("Service", "default", "kubernetes");
    let ips = |endpoints: Value| -> Vec<String> {
        endpoints["subsets"][0]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["ip"].as_str().unwrap().to_string())
            .collect()
    };
    let action = controller.reconcile(&key).await.unwrap();
    let endpoints = get(store.as_ref(), "Endpoints", "default", "kubernetes")
        .await
        .unwrap();
    // Sorted as addresses (192.0.2.9 before 192.0.2.10), one subset on the shared port.
    assert_eq!(
        ips(endpoints.clone()),
        ["192.0.2.9", "192.0.2.10", "192.0.2.11"]
    );
    assert_eq!(endpoints["subsets"][0]["ports"][0]["port"], 6443);
    assert_eq!(endpoints["subsets"].as_array().unwrap().len(), 1);
    // Back when the others' leases would run out.
    assert_eq!(action, Action::Requeue(lease + Duration::from_secs(1)));

    // `other` stops renewing; `third` stops cleanly.
    manual.advance(Duration::from_secs(10));
    own.renew().await.unwrap();
    third.remove().await.unwrap();
    controller.reconcile(&key).await.unwrap();
    let endpoints = get(store.as_ref(), "Endpoints", "default", "kubernetes")
        .await
        .unwrap();
    assert_eq!(ips(endpoints), ["192.0.2.9", "192.0.2.10"]);
    manual.advance(Duration::from_secs(6));
    assert_eq!(
        controller.reconcile(&key).await.unwrap(),
        Action::AwaitChange
    );
    let endpoints = get(store.as_ref(), "Endpoints", "default", "kubernetes")
        .await
        .unwrap();
    assert_eq!(
        ips(endpoints),
        ["192.0.2.10"],
        "this server stays even with its lease stale"
    );
}
