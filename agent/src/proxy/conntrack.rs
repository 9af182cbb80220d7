//! Stale UDP flows (pure). A UDP conntrack entry lives on while datagrams keep coming,
//! so a client that keeps talking to a service would keep reaching an endpoint that
//! left it. When an endpoint leaves a UDP service port, its entries for that port are
//! deleted (`conntrack -D`), as kube-proxy does. TCP needs nothing: the old
//! connections end, and new ones pick a backend again.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::model::{Backend, PortRule, Proto};

/// UDP entries NATed to `endpoint` that were addressed to `dst` (a cluster IP; any
/// address for a node port) and port `dport`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StaleFlow {
    pub dst: Option<Ipv4Addr>,
    pub dport: u16,
    pub endpoint: Ipv4Addr,
}

impl StaleFlow {
    /// The `conntrack` arguments deleting them.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["-D".into(), "-p".into(), "udp".into()];
        if let Some(dst) = self.dst {
            args.extend(["--orig-dst".into(), dst.to_string()]);
        }
        args.extend([
            "--orig-port-dst".into(),
            self.dport.to_string(),
            "--dst-nat".into(),
            self.endpoint.to_string(),
        ]);
        args
    }
}

/// The flows to delete after a service's rules went from `old` to `new`.
pub fn stale_flows(old: &[PortRule], new: &[PortRule]) -> Vec<StaleFlow> {
    let mut out = BTreeSet::new();
    for r in old.iter().filter(|r| r.proto == Proto::Udp) {
        let now = new.iter().find(|n| n.id == r.id);
        // Endpoints still behind the same cluster IP and port, and the same node port.
        let kept_cluster: Vec<Backend> = now
            .filter(|n| n.cluster_ip == r.cluster_ip && n.port == r.port)
            .map_or_else(Vec::new, |n| n.backends.clone());
        let gone_cluster = r.backends.iter().filter(|b| !kept_cluster.contains(b));
        out.extend(gone_cluster.map(|b| StaleFlow {
            dst: Some(r.cluster_ip),
            dport: r.port,
            endpoint: b.ip,
        }));
        let Some(np) = r.node_port else {
            continue;
        };
        let kept_node: Vec<Backend> = now
            .filter(|n| n.node_port == Some(np))
            .map_or_else(Vec::new, PortRule::node_port_backends);
        let gone_node = r
            .node_port_backends()
            .into_iter()
            .filter(|b| !kept_node.contains(b));
        out.extend(gone_node.map(|b| StaleFlow {
            dst: None,
            dport: np,
            endpoint: b.ip,
        }));
    }
    out.into_iter().collect()
}
