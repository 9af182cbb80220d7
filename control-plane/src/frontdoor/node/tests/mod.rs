//! Tests of the node parts against the in-memory store, with a real PKI (a temporary
//! directory) and a manual clock; `grpc` also runs the service behind real TLS.

mod cidr;
mod fit;
mod grpc;
mod lifecycle;
mod node_network;
mod node_ops;
mod pod_events;
mod pod_object;
mod pod_status;
mod register;
mod scheduler;
mod service_account_token;
mod volumes;
mod watch_pods;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};
use skiff_proto::v1::Object;

use super::register::{register, Registered};
use crate::controllers::nodes::{NodeContext, Timing};
use crate::core::objects::{decode, node_key, pod_key};
use crate::core::ManualClock;
use crate::core::{ClusterConfig, ControlPlane};
use crate::pki::Pki;
use crate::resources::allocation::PodCidrAllocator;
use crate::store::{Key, MemoryStore, Store};

const START: &str = "2025-01-01T00:00:00Z";

/// A control plane over a MemoryStore with a fresh PKI, short lifecycle durations
/// (lease 4 s, grace 5 s, eviction 30 s) and fast loops.
struct Fixture {
    _dir: tempfile::TempDir,
    ctx: Arc<NodeContext>,
    clock: ManualClock,
    cidrs: PodCidrAllocator,
}

fn config() -> ClusterConfig {
    ClusterConfig {
        node_lease: Duration::from_secs(4),
        node_grace: Duration::from_secs(5),
        pod_eviction: Duration::from_secs(30),
        ..ClusterConfig::default()
    }
}

fn fast_timing() -> Timing {
    Timing {
        scheduler_resync: Duration::from_millis(200),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        unschedulable_retry: Duration::from_millis(100),
        lifecycle_period: Duration::from_millis(10),
    }
}

impl Fixture {
    fn new() -> Self {
        Self::with(config(), Arc::new(MemoryStore::new()))
    }

    fn with(config: ClusterConfig, store: Arc<dyn Store>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &[], "https://127.0.0.1:6443").unwrap();
        Self::over(dir, Arc::new(pki), config, store)
    }

    /// Another control plane over the same store and PKI: a "restart".
    fn restart(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cp = &self.ctx.cp;
        Self::over(dir, cp.pki.clone(), cp.config.clone(), cp.store.clone())
    }

    fn over(
        dir: tempfile::TempDir,
        pki: Arc<Pki>,
        config: ClusterConfig,
        store: Arc<dyn Store>,
    ) -> Self {
        let clock = ManualClock::new(START.parse().unwrap());
        let cidrs = PodCidrAllocator::new(config.cluster_cidr);
        let cp = Arc::new(ControlPlane { store, pki, config });
        let ctx = Arc::new(NodeContext {
            cp,
            clock: Arc::new(clock.clone()),
            timing: fast_timing(),
        });
        Fixture {
            _dir: dir,
            ctx,
            clock,
            cidrs,
        }
    }

    fn clock_now(&self) -> i64 {
        crate::core::Clock::now(&self.clock).as_second()
    }

    fn store(&self) -> &dyn Store {
        self.ctx.cp.store.as_ref()
    }

    fn token(&self) -> String {
        self.ctx.cp.pki.node_token()
    }

    async fn register(&self, name: &str) -> Registered {
        self.register_with(name, &[], "4", "8Gi").await
    }

    async fn register_with(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        cpu: &str,
        memory: &str,
    ) -> Registered {
        let node = node_object(name, labels, cpu, memory);
        register(
            &self.ctx,
            &self.cidrs,
            &self.token(),
            Some(&node),
            &csr(name),
        )
        .await
        .unwrap_or_else(|e| panic!("register {name}: {e}"))
    }

    async fn node(&self, name: &str) -> Node {
        let stored = self.store().get(&node_key(name)).await.unwrap().unwrap();
        decode(&stored).unwrap()
    }

    async fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        let stored = self.store().get(&pod_key(namespace, name)).await.unwrap()?;
        Some(decode(&stored).unwrap())
    }

    async fn create_pod(&self, pod: Value) -> i64 {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
        let name = pod["metadata"]["name"].as_str().unwrap();
        let key = pod_key(namespace, name);
        let uid = format!("uid-{name}");
        let stored = self
            .store()
            .create(key, uid, serde_json::to_vec(&pod).unwrap())
            .await
            .unwrap();
        stored.revision
    }

    /// Edits a stored object's JSON unconditionally, as a user through the API would.
    async fn edit(&self, key: Key, edit: impl FnOnce(&mut Value)) -> i64 {
        let stored = self.store().get(&key).await.unwrap().unwrap();
        let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
        edit(&mut value);
        let json = serde_json::to_vec(&value).unwrap();
        let written = self
            .store()
            .update(key, json, Some(stored.revision))
            .await
            .unwrap();
        written.revision
    }
}

/// The Node an agent reports about itself.
fn node_object(name: &str, labels: &[(&str, &str)], cpu: &str, memory: &str) -> Object {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node_address(name)},
                {"type": "Hostname", "address": name},
            ],
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "nodeInfo": {
                "architecture": "arm64", "bootID": "", "containerRuntimeVersion": "containerd://1.6.20",
                "kernelVersion": "6.1.0", "kubeProxyVersion": "", "kubeletVersion": "skiff",
                "machineID": "", "operatingSystem": "linux", "osImage": "Debian 12", "systemUUID": "",
            },
        },
    });
    Object {
        kind: "Node".into(),
        name: name.into(),
        json: serde_json::to_vec(&node).unwrap(),
        ..Default::default()
    }
}

/// A distinct InternalIP per test node: 192.168.56.11 for n1 (or node-1), .12 for n2
/// (Register refuses two nodes with one address).
fn node_address(name: &str) -> String {
    let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    let n: u32 = digits
        .parse()
        .unwrap_or_else(|_| name.bytes().map(u32::from).sum::<u32>() % 100 + 150);
    format!("192.168.56.{}", 10 + n)
}

/// A CSR for `name`'s key, as the agent makes it.
fn csr(name: &str) -> String {
    csr_and_key(name).0
}

fn csr_and_key(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("system:node:{name}"));
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    (csr, key.serialize_pem())
}

/// A pod manifest as the API stores it.
fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Pending"},
    })
}

/// `pod(name)` already bound to `node`.
fn bound_pod(name: &str, node: &str) -> Value {
    let mut pod = pod(name);
    pod["spec"]["nodeName"] = node.into();
    pod
}

/// Polls `check` until it holds, for at most 5 s of real time.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
