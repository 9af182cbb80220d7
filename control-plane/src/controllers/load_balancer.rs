//! LoadBalancer Services without a cloud, as k3s' servicelb does it: the Ready nodes'
//! InternalIPs are the Service's `status.loadBalancer.ingress`, and every node's proxy
//! answers the service port on them (`agent/src/proxy/model.rs`, external addresses).
//! With `externalTrafficPolicy: Local` only the nodes with a ready endpoint of the
//! Service are listed, so a client never lands on a node that would drop it.
//!
//! Keys are Services. Triggers: a Service event (that Service), an Endpoints event (its
//! Service), a Node event (every Service: readiness and addresses feed all of them).
//! A Service that stops being a LoadBalancer loses the ingress it was given.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Endpoints, LoadBalancerIngress, LoadBalancerStatus, Node, Service, ServiceStatus,
};
use tracing::info;

use super::runtime::{Action, Reconciler};
use super::ControllerContext;
use crate::core::objects::{decode_all, modify, node_is_ready, Modified};
use crate::core::Error;
use crate::store::{Event, Key, Store};

pub struct LoadBalancerController {
    ctx: Arc<ControllerContext>,
}

impl LoadBalancerController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        LoadBalancerController { ctx }
    }

    fn store(&self) -> &dyn Store {
        self.ctx.store.as_ref()
    }
}

/// The ingress a Service should have: none unless it is a LoadBalancer; else the Ready
/// nodes' InternalIPs (under policy Local, only nodes with a ready endpoint), sorted.
pub fn wanted_ingress(svc: &Service, nodes: &[Node], endpoints: Option<&Endpoints>) -> Vec<String> {
    let spec = svc.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) != Some("LoadBalancer") {
        return Vec::new();
    }
    let local = spec.and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local");
    let with_endpoints: BTreeSet<&str> = endpoints
        .and_then(|e| e.subsets.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|s| s.addresses.iter().flatten())
        .filter_map(|a| a.node_name.as_deref())
        .collect();
    let ips: BTreeSet<String> = nodes
        .iter()
        .filter(|n| node_is_ready(n))
        .filter(|n| !local || with_endpoints.contains(n.metadata.name.as_deref().unwrap_or("")))
        .flat_map(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.addresses.as_ref())
                .into_iter()
                .flatten()
                .filter(|a| a.type_ == "InternalIP")
                .map(|a| a.address.clone())
        })
        .collect();
    ips.into_iter().collect()
}

/// The ingress IPs a Service's status holds now.
fn current_ingress(svc: &Service) -> Vec<String> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.clone())
        .collect()
}

fn set_ingress(svc: &mut Service, ips: &[String]) {
    let status = svc.status.get_or_insert_with(ServiceStatus::default);
    status.load_balancer = (!ips.is_empty()).then(|| LoadBalancerStatus {
        ingress: Some(
            ips.iter()
                .map(|ip| LoadBalancerIngress {
                    ip: Some(ip.clone()),
                    ..Default::default()
                })
                .collect(),
        ),
    });
}

impl Reconciler for LoadBalancerController {
    const NAME: &'static str = "load-balancer";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Service"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Service", "Endpoints", "Node"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        let key = &event.object.key;
        match key.kind.as_str() {
            "Service" => vec![key.clone()],
            "Endpoints" => vec![Key::new("Service", key.namespace.clone(), key.name.clone())],
            "Node" => match self.store().list("Service", None).await {
                Ok((items, _)) => items.into_iter().map(|s| s.key).collect(),
                Err(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let Some(stored) = self.store().get(key).await? else {
            return Ok(Action::AwaitChange);
        };
        let svc: Service = stored.parse()?;
        if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) != Some("LoadBalancer")
            && current_ingress(&svc).is_empty()
        {
            return Ok(Action::AwaitChange);
        }
        let (nodes, _) = self.store().list("Node", None).await?;
        let nodes: Vec<Node> = decode_all(&nodes);
        let endpoints_key = Key::new("Endpoints", key.namespace.clone(), key.name.clone());
        let endpoints: Option<Endpoints> = match self.store().get(&endpoints_key).await? {
            Some(stored) => Some(stored.parse()?),
            None => None,
        };
        let wanted = wanted_ingress(&svc, &nodes, endpoints.as_ref());
        if current_ingress(&svc) == wanted {
            return Ok(Action::AwaitChange);
        }
        let written = modify(self.store(), key, Some(&stored.uid), |svc: &mut Service| {
            let wanted = wanted_ingress(svc, &nodes, endpoints.as_ref());
            if current_ingress(svc) == wanted {
                return Ok(false);
            }
            set_ingress(svc, &wanted);
            Ok(true)
        })
        .await?;
        if matches!(written, Modified::Written(_)) {
            info!(service = %key, ingress = ?wanted, "load-balancer ingress updated");
        }
        Ok(Action::AwaitChange)
    }
}
