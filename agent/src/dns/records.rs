//! What the cluster DNS knows: services and their endpoints as the control plane stores
//! them, reduced to what answers need. Services and endpoints arrive on separate watches,
//! so either may come first; each is kept on its own and joined at lookup time.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use k8s_openapi::api::core::v1::{Endpoints, Service};
use tracing::{debug, warn};

/// `(namespace, name)`, both lowercase (DNS names are case-insensitive).
pub(crate) type Key = (String, String);

/// The records the DNS server answers from. Cheap to clone: every clone shares one table,
/// so the service watcher updates what the server reads.
#[derive(Clone, Default)]
pub struct DnsRecords {
    inner: Arc<RwLock<Table>>,
}

#[derive(Debug, Default)]
pub(crate) struct Table {
    pub services: BTreeMap<Key, ServiceInfo>,
    /// Ready endpoint addresses per service.
    pub endpoints: BTreeMap<Key, Vec<EndpointInfo>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceKind {
    /// A ClusterIP, NodePort or LoadBalancer service; no addresses before allocation.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: answered with the ready endpoints themselves.
    Headless,
    /// `type: ExternalName`: a CNAME to this name (no trailing dot).
    ExternalName(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceInfo {
    pub kind: ServiceKind,
    /// Named ports only: SRV records need a name.
    pub ports: Vec<PortInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortInfo {
    /// Lowercase port name.
    pub name: String,
    /// Lowercase protocol: `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointInfo {
    pub ip: IpAddr,
    /// `hostname` of the address (StatefulSet pods under their governing service).
    pub hostname: Option<String>,
    pub ports: Vec<PortInfo>,
}

impl EndpointInfo {
    /// The endpoint's own label under a headless service: its hostname, or its address
    /// with dashes (`10-42-0-5`), as CoreDNS names endpoints without one.
    pub fn label(&self) -> String {
        match &self.hostname {
            Some(h) => h.clone(),
            None => dashed(self.ip),
        }
    }
}

/// `10.42.0.5` → `10-42-0-5`, `fd00::1` → `fd00--1`.
pub(crate) fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

impl DnsRecords {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn upsert_service(&self, svc: &Service) {
        let Some(key) = key_of(
            svc.metadata.namespace.as_deref(),
            svc.metadata.name.as_deref(),
        ) else {
            warn!("service without a name ignored by the cluster dns");
            return;
        };
        let info = service_info(svc);
        debug!(namespace = %key.0, service = %key.1, kind = ?info.kind, "dns service updated");
        self.write().services.insert(key, info);
    }

    pub fn remove_service(&self, namespace: &str, name: &str) {
        self.write()
            .services
            .remove(&(namespace.to_ascii_lowercase(), name.to_ascii_lowercase()));
    }

    pub fn upsert_endpoints(&self, eps: &Endpoints) {
        let Some(key) = key_of(
            eps.metadata.namespace.as_deref(),
            eps.metadata.name.as_deref(),
        ) else {
            warn!("endpoints without a name ignored by the cluster dns");
            return;
        };
        let list = endpoint_infos(eps);
        self.write().endpoints.insert(key, list);
    }

    pub fn remove_endpoints(&self, namespace: &str, name: &str) {
        self.write()
            .endpoints
            .remove(&(namespace.to_ascii_lowercase(), name.to_ascii_lowercase()));
    }

    /// Replaces everything at once (after a watch reconnect), so no lookup sees a half
    /// rebuilt table.
    pub fn resync<'a>(
        &self,
        services: impl IntoIterator<Item = &'a Service>,
        endpoints: impl IntoIterator<Item = &'a Endpoints>,
    ) {
        let mut table = Table::default();
        for svc in services {
            if let Some(key) = key_of(
                svc.metadata.namespace.as_deref(),
                svc.metadata.name.as_deref(),
            ) {
                table.services.insert(key, service_info(svc));
            }
        }
        for eps in endpoints {
            if let Some(key) = key_of(
                eps.metadata.namespace.as_deref(),
                eps.metadata.name.as_deref(),
            ) {
                table.endpoints.insert(key, endpoint_infos(eps));
            }
        }
        debug!(
            services = table.services.len(),
            endpoints = table.endpoints.len(),
            "dns records resynced"
        );
        *self.write() = table;
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Table {
    pub fn has_namespace(&self, ns: &str) -> bool {
        self.services
            .range((ns.to_string(), String::new())..)
            .next()
            .is_some_and(|((n, _), _)| n == ns)
    }
}

fn key_of(namespace: Option<&str>, name: Option<&str>) -> Option<Key> {
    let name = name.filter(|n| !n.is_empty())?;
    let ns = namespace.filter(|n| !n.is_empty()).unwrap_or("default");
    Some((ns.to_ascii_lowercase(), name.to_ascii_lowercase()))
}

fn service_info(svc: &Service) -> ServiceInfo {
    let spec = svc.spec.clone().unwrap_or_default();
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec.external_name.unwrap_or_default();
        ServiceKind::ExternalName(target.trim_end_matches('.').to_ascii_lowercase())
    } else if spec.cluster_ip.as_deref() == Some("None") {
        ServiceKind::Headless
    } else {
        let ips = match spec.cluster_ips.filter(|ips| !ips.is_empty()) {
            Some(ips) => ips,
            None => spec.cluster_ip.into_iter().collect(),
        };
        ServiceKind::ClusterIp(ips.iter().filter_map(|ip| ip.parse().ok()).collect())
    };
    let ports = spec
        .ports
        .unwrap_or_default()
        .iter()
        .filter_map(|p| port_info(p.name.as_deref(), p.protocol.as_deref(), p.port))
        .collect();
    ServiceInfo { kind, ports }
}

fn endpoint_infos(eps: &Endpoints) -> Vec<EndpointInfo> {
    let mut out = Vec::new();
    for subset in eps.subsets.iter().flatten() {
        let ports: Vec<PortInfo> = subset
            .ports
            .iter()
            .flatten()
            .filter_map(|p| port_info(p.name.as_deref(), p.protocol.as_deref(), p.port))
            .collect();
        // Not-ready addresses get no records; publishNotReadyAddresses makes the
        // endpoints controller list them as ready already.
        for addr in subset.addresses.iter().flatten() {
            let Ok(ip) = addr.ip.parse() else {
                warn!(endpoints = ?eps.metadata.name, ip = %addr.ip, "endpoint address is not an ip");
                continue;
            };
            out.push(EndpointInfo {
                ip,
                hostname: addr
                    .hostname
                    .as_deref()
                    .filter(|h| !h.is_empty())
                    .map(str::to_ascii_lowercase),
                ports: ports.clone(),
            });
        }
    }
    out
}

fn port_info(name: Option<&str>, protocol: Option<&str>, port: i32) -> Option<PortInfo> {
    let name = name.filter(|n| !n.is_empty())?;
    Some(PortInfo {
        name: name.to_ascii_lowercase(),
        protocol: protocol.unwrap_or("TCP").to_ascii_lowercase(),
        port: u16::try_from(port).ok()?,
    })
}
