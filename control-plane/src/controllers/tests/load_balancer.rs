//! The LoadBalancer controller against the memory store: ingress from the Ready nodes'
//! addresses, policy Local, nodes turning NotReady, a type change, and the trigger map.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use serde_json::{json, Value};

use super::super::{ControllerContext, LoadBalancerController, Reconciler};
use crate::store::{encode, Event, EventType, Key, MemoryStore, Store};

async fn put(store: &dyn Store, kind: &str, namespace: &str, name: &str, value: Value) {
    let key = Key::new(kind, namespace, name);
    let json = serde_json::to_vec(&value).unwrap();
    match store.get(&key).await.unwrap() {
        Some(old) => {
            store.update(key, json, Some(old.revision)).await.unwrap();
        }
        None => {
            store
                .create(key, format!("uid-{kind}-{name}"), json)
                .await
                .unwrap();
        }
    }
}

fn node(name: &str, ip: &str, ready: bool) -> Value {
    json!({"metadata": {"name": name}, "status": {
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" }}],
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
    }})
}

fn service(type_: &str, policy: &str) -> Value {
    json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {
        "type": type_, "externalTrafficPolicy": policy, "clusterIP": "10.43.0.9",
        "selector": {"app": "web"},
        "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}],
    }})
}

fn endpoints(nodes: &[&str]) -> Value {
    let addresses: Vec<Value> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"ip": format!("10.42.{i}.5"), "nodeName": n}))
        .collect();
    json!({"metadata": {"name": "web", "namespace": "default"},
           "subsets": [{"addresses": addresses, "ports": [{"port": 8080, "protocol": "TCP"}]}]})
}

struct Case {
    store: Arc<dyn Store>,
    lb: LoadBalancerController,
}

impl Case {
    async fn new() -> Case {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let ctx = ControllerContext::new(store.clone());
        for (name, ip, ready) in [
            ("n1", "192.168.56.11", true),
            ("n2", "192.168.56.12", true),
            ("n3", "192.168.56.13", true),
        ] {
            put(store.as_ref(), "Node", "", name, node(name, ip, ready)).await;
        }
        Case {
            store,
            lb: LoadBalancerController::new(ctx),
        }
    }

    async fn put(&self, kind: &str, namespace: &str, name: &str, value: Value) {
        put(self.store.as_ref(), kind, namespace, name, value).await;
    }

    async fn service(&self, type_: &str, policy: &str) {
        self.put("Service", "default", "web", service(type_, policy))
            .await;
    }

    /// Reconciles the Service and returns its ingress IPs.
    async fn ingress(&self) -> Vec<String> {
        let key = Key::new("Service", "default", "web");
        self.lb.reconcile(&key).await.unwrap();
        let stored = self.store.get(&key).await.unwrap().unwrap();
        let svc: Service = stored.parse().unwrap();
        let ingress = svc
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .unwrap_or_default();
        ingress.into_iter().filter_map(|i| i.ip).collect()
    }
}

#[tokio::test]
async fn ready_nodes_addresses_become_the_ingress() {
    let case = Case::new().await;
    case.service("LoadBalancer", "Cluster").await;
    assert_eq!(
        case.ingress().await,
        ["192.168.56.11", "192.168.56.12", "192.168.56.13"]
    );
    // A node that stops heartbeating leaves the ingress; it comes back when Ready again.
    case.put("Node", "", "n2", node("n2", "192.168.56.12", false))
        .await;
    assert_eq!(case.ingress().await, ["192.168.56.11", "192.168.56.13"]);
    case.put("Node", "", "n2", node("n2", "192.168.56.12", true))
        .await;
    assert_eq!(case.ingress().await.len(), 3);
}

#[tokio::test]
async fn policy_local_lists_only_nodes_with_a_ready_endpoint() {
    let case = Case::new().await;
    case.service("LoadBalancer", "Local").await;
    assert!(case.ingress().await.is_empty(), "no endpoints yet");
    case.put("Endpoints", "default", "web", endpoints(&["n1", "n3"]))
        .await;
    assert_eq!(case.ingress().await, ["192.168.56.11", "192.168.56.13"]);
}

#[tokio::test]
async fn a_service_that_stops_being_a_load_balancer_loses_its_ingress() {
    let case = Case::new().await;
    case.service("LoadBalancer", "Cluster").await;
    assert_eq!(case.ingress().await.len(), 3);
    let key = Key::new("Service", "default", "web");
    let stored = case.store.get(&key).await.unwrap().unwrap();
    let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
    value["spec"]["type"] = json!("NodePort");
    case.put("Service", "default", "web", value).await;
    assert!(case.ingress().await.is_empty());
    // Nothing to write for a NodePort Service: no revision spent.
    let before = case.store.current_revision().await.unwrap();
    assert!(case.ingress().await.is_empty());
    assert_eq!(case.store.current_revision().await.unwrap(), before);
}

#[tokio::test]
async fn node_and_endpoints_events_trigger_their_services() {
    let case = Case::new().await;
    case.service("LoadBalancer", "Cluster").await;
    let web = Key::new("Service", "default", "web");
    let node = case
        .store
        .get(&Key::new("Node", "", "n1"))
        .await
        .unwrap()
        .unwrap();
    let event = Event {
        kind: EventType::Modified,
        object: node,
    };
    assert_eq!(case.lb.triggers(&event).await, std::slice::from_ref(&web));
    let mut eps = case
        .store
        .get(&Key::new("Service", "default", "web"))
        .await
        .unwrap()
        .unwrap();
    eps.key = Key::new("Endpoints", "default", "web");
    eps.json = encode(&endpoints(&["n1"]));
    let event = Event {
        kind: EventType::Added,
        object: eps,
    };
    assert_eq!(case.lb.triggers(&event).await, [web]);
}
