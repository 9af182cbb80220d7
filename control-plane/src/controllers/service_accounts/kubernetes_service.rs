//! The `kubernetes` Service in `default`, as kube-apiserver's bootstrap controller keeps
//! it: ClusterIP the service range's first address (`Ranges::reserved_ip`), port `https`
//! 443/TCP to the API port, no selector, and its Endpoints at the address and port the
//! API is advertised on (the services controller mirrors them into an EndpointSlice).
//! Made at start and put back when deleted or changed. The Endpoints list every server
//! whose identity lease is live (`leader/identity.rs`), sorted, as kube-apiserver's
//! "lease" endpoint reconciler: this one (the leader runs this controller) always, the
//! others until their lease expires or they stop cleanly. Requeued for the moment the
//! first other lease would run out.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tracing::info;

use super::ensure::{ensure, Ensured};
use crate::controllers::runtime::{Action, Reconciler};
use crate::controllers::ControllerContext;
use crate::core::clock::elapsed;
use crate::core::{ControlPlane, Error};
use crate::leader::{identity, live_servers};
use crate::store::{Event, Key};

pub const NAME: &str = "kubernetes";
pub const NAMESPACE: &str = "default";

pub struct KubernetesServiceController {
    ctx: Arc<ControllerContext>,
    cluster_ip: Ipv4Addr,
    endpoint: SocketAddr,
}

impl KubernetesServiceController {
    /// The Service at `cluster_ip`, its Endpoints at `endpoint` (the advertised API).
    pub fn new(ctx: Arc<ControllerContext>, cluster_ip: Ipv4Addr, endpoint: SocketAddr) -> Self {
        KubernetesServiceController {
            ctx,
            cluster_ip,
            endpoint,
        }
    }
}

/// Starts the controller over `cp`'s store for the API advertised at `endpoint`.
pub fn spawn(cp: &ControlPlane, endpoint: SocketAddr) -> JoinHandle<()> {
    let ctx = ControllerContext::new(cp.store.clone());
    let ip = cp.config.service_ranges().reserved_ip();
    super::run(cp, KubernetesServiceController::new(ctx, ip, endpoint))
}

fn service_key() -> Key {
    Key::new("Service", NAMESPACE, NAME)
}

impl Reconciler for KubernetesServiceController {
    const NAME: &'static str = "kubernetes-service";

    // Listed at start and on resync so that a missing Service is made: every namespace
    // stands for the one key (`default` always exists).
    fn kinds(&self) -> Vec<&'static str> {
        vec!["Namespace"]
    }

    fn primary_key(&self, _listed: &Key) -> Key {
        service_key()
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Service", "Endpoints", "Lease"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let key = &event.object.key;
        let ours = key.namespace == NAMESPACE && key.name == NAME;
        let server = key.kind == "Lease" && key.name.starts_with(identity::NAME_PREFIX);
        if (ours && key.kind != "Lease") || server {
            vec![service_key()]
        } else {
            Vec::new()
        }
    }

    async fn reconcile(&self, _key: &Key) -> Result<Action, Error> {
        let store = self.ctx.store.as_ref();
        let clock_now = self.ctx.clock.now();
        let now = self.ctx.clock.now_seconds().to_string();
        let others: Vec<_> = live_servers(store, clock_now)
            .await?
            .into_iter()
            .filter(|server| server.address != self.endpoint)
            .collect();
        let servers: Vec<SocketAddr> = others
            .iter()
            .map(|server| server.address)
            .chain([self.endpoint])
            .collect();
        let service = ensure(store, &service_key(), |current| {
            service(current, self.cluster_ip, self.endpoint.port(), &now)
        })
        .await?;
        let endpoints = ensure(store, &Key::new("Endpoints", NAMESPACE, NAME), |current| {
            endpoints(current, &servers, &now)
        })
        .await?;
        if (service, endpoints) != (Ensured::Unchanged, Ensured::Unchanged) {
            info!(?service, ?endpoints, cluster_ip = %self.cluster_ip, servers = ?servers, "kubernetes service written");
        }
        // Back when the first other server's lease would run out (a second late, so it has).
        Ok(match others.iter().map(|server| server.expires).min() {
            Some(first) => Action::Requeue(elapsed(first, clock_now) + Duration::from_secs(1)),
            None => Action::AwaitChange,
        })
    }
}

fn metadata(now: &str, labels: Value) -> Value {
    json!({"name": NAME, "namespace": NAMESPACE, "creationTimestamp": now, "labels": labels})
}

/// The Service (new, or `current` corrected), or `None` when `current` is right.
fn service(current: Option<&Value>, ip: Ipv4Addr, port: u16, now: &str) -> Option<Value> {
    let spec = json!({
        "type": "ClusterIP",
        "clusterIP": ip.to_string(),
        "clusterIPs": [ip.to_string()],
        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    });
    let Some(current) = current else {
        return Some(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(now, json!({"component": "apiserver", "provider": "kubernetes"})),
            "spec": spec,
        }));
    };
    let mut fixed = current.clone();
    let kept = fixed["spec"].as_object_mut()?;
    for field in ["type", "clusterIP", "clusterIPs", "ports"] {
        kept.insert(field.into(), spec[field].clone());
    }
    kept.remove("selector");
    (fixed != *current).then_some(fixed)
}

/// The Endpoints' subsets for `servers`: one per port (servers normally share one),
/// addresses sorted, as the lease reconciler writes them.
pub fn subsets(servers: &[SocketAddr]) -> Value {
    let mut by_port: BTreeMap<u16, Vec<IpAddr>> = BTreeMap::new();
    for server in servers {
        by_port.entry(server.port()).or_default().push(server.ip());
    }
    let subsets: Vec<Value> = by_port
        .into_iter()
        .map(|(port, mut ips)| {
            ips.sort();
            ips.dedup();
            let addresses: Vec<Value> =
                ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect();
            json!({
                "addresses": addresses,
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            })
        })
        .collect();
    Value::Array(subsets)
}

/// The Endpoints (new, or `current` corrected), or `None` when `current` is right.
fn endpoints(current: Option<&Value>, servers: &[SocketAddr], now: &str) -> Option<Value> {
    let subsets = subsets(servers);
    let Some(current) = current else {
        return Some(json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": metadata(now, json!({})),
            "subsets": subsets,
        }));
    };
    (current["subsets"] != subsets).then(|| {
        let mut fixed = current.clone();
        fixed["subsets"] = subsets;
        fixed
    })
}
