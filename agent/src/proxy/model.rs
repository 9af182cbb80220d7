//! What the proxy needs of a Service and its Endpoints, worked out once (pure): one
//! [`PortRule`] per service port, with its backends sorted so that the same objects
//! always give the same rules and element diffs stay small.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use sha2::{Digest, Sha256};

/// Kubernetes' default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 h).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// The name nft and iptables both use.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A pod behind a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// On this node: used by externalTrafficPolicy Local and for hairpin masquerade.
    pub local: bool,
}

/// One port of one service, as the data path sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    /// `namespace/name/port-name/proto`: unique per node, stable across updates.
    pub id: String,
    pub proto: Proto,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub node_port: Option<u16>,
    /// Sorted, without duplicates.
    pub backends: Vec<Backend>,
    /// externalTrafficPolicy Local: NodePort traffic only to local backends, no masquerade.
    pub external_local: bool,
    /// sessionAffinity ClientIP: its timeout in seconds.
    pub affinity: Option<u32>,
    /// An `externalIPs` or load-balancer ingress address answering like the ClusterIP
    /// (`cluster_ip` holds it): traffic from outside is masqueraded unless `external_local`.
    pub external: bool,
}

impl PortRule {
    /// The backends NodePort traffic may reach.
    pub fn node_port_backends(&self) -> Vec<Backend> {
        if self.external_local {
            self.backends.iter().copied().filter(|b| b.local).collect()
        } else {
            self.backends.clone()
        }
    }

    /// A short name safe for nft and iptables identifiers (16 hex digits).
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.id.as_bytes());
        hex::encode(&digest[..8])
    }
}

/// Where the node's own pods are, to tell local endpoints when `nodeName` is missing.
#[derive(Debug, Clone)]
pub struct NodeView<'a> {
    pub node_name: &'a str,
    pub pod_cidr: Ipv4Net,
}

/// The port rules of `svc`: none for headless, ExternalName, IPv6-only or SCTP ports.
pub fn port_rules(
    svc: &Service,
    endpoints: Option<&Endpoints>,
    node: &NodeView<'_>,
) -> Vec<PortRule> {
    let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let Some(cluster_ip) = spec
        .cluster_ip
        .as_deref()
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
    else {
        return Vec::new();
    };
    let node_ports = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
    let external_local = spec.external_traffic_policy.as_deref() == Some("Local");
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(DEFAULT_AFFINITY_TIMEOUT)
    });
    let mut rules = Vec::new();
    for port in spec.ports.iter().flatten() {
        let proto = match port.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Proto::Tcp,
            "UDP" => Proto::Udp,
            _ => continue,
        };
        let Ok(svc_port) = u16::try_from(port.port) else {
            continue;
        };
        let port_name = port.name.as_deref().unwrap_or("");
        rules.push(PortRule {
            id: format!("{ns}/{name}/{port_name}/{}", proto.as_str()),
            proto,
            cluster_ip,
            port: svc_port,
            node_port: port
                .node_port
                .filter(|_| node_ports)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0),
            backends: backends(endpoints, port_name, proto, node),
            external_local,
            affinity,
            external: false,
        });
    }
    let externals = external_addresses(svc);
    let mut extra = Vec::new();
    for rule in &rules {
        for ip in &externals {
            extra.push(external_rule(rule, *ip));
        }
    }
    rules.extend(extra);
    rules
}

/// `spec.externalIPs`, and for type LoadBalancer the `status.loadBalancer.ingress` IPs
/// (the nodes' addresses the control plane wrote there), IPv4 only, deduplicated.
pub fn external_addresses(svc: &Service) -> Vec<Ipv4Addr> {
    let spec = svc.spec.as_ref();
    let external_ips = spec
        .and_then(|s| s.external_ips.as_ref())
        .into_iter()
        .flatten();
    let load_balancer = spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .filter(|_| load_balancer)
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_ref());
    let set: BTreeSet<Ipv4Addr> = external_ips
        .chain(ingress)
        .filter_map(|ip| ip.parse().ok())
        .collect();
    set.into_iter().collect()
}

/// The rule for one external address of a port: the node-port backends (only local ones
/// under externalTrafficPolicy Local), no node port, no affinity.
fn external_rule(rule: &PortRule, ip: Ipv4Addr) -> PortRule {
    PortRule {
        id: format!("{}/external/{ip}", rule.id),
        proto: rule.proto,
        cluster_ip: ip,
        port: rule.port,
        node_port: None,
        backends: rule.node_port_backends(),
        external_local: rule.external_local,
        affinity: None,
        external: true,
    }
}

/// The ready addresses of the Endpoints port named like the service port (an unnamed
/// service port matches the one unnamed endpoint port).
fn backends(
    endpoints: Option<&Endpoints>,
    port_name: &str,
    proto: Proto,
    node: &NodeView<'_>,
) -> Vec<Backend> {
    let mut out = BTreeSet::new();
    for subset in endpoints
        .and_then(|e| e.subsets.as_ref())
        .into_iter()
        .flatten()
    {
        let Some(port) = subset.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && p.protocol.as_deref().unwrap_or("TCP") == proto_name(proto)
        }) else {
            continue;
        };
        let Ok(port) = u16::try_from(port.port) else {
            continue;
        };
        for addr in subset.addresses.iter().flatten() {
            let Ok(ip) = addr.ip.parse::<Ipv4Addr>() else {
                continue;
            };
            let local = match addr.node_name.as_deref() {
                Some(n) => n == node.node_name,
                None => node.pod_cidr.contains(&ip),
            };
            out.insert(Backend { ip, port, local });
        }
    }
    out.into_iter().collect()
}

fn proto_name(proto: Proto) -> &'static str {
    match proto {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
    }
}
