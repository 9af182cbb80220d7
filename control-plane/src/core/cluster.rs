//! What every part of the control plane shares: the store, the PKI and the cluster's
//! settings. Built once in `main.rs` and passed around as `Arc<ControlPlane>`.

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::pki::Pki;
use crate::store::Store;

/// Cluster-wide settings from the command line (`main.rs`'s flags).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Pods' addresses; each node gets a /24 of it.
    pub cluster_cidr: ipnet::Ipv4Net,
    pub service_cidr: ipnet::Ipv4Net,
    pub node_port_range: std::ops::RangeInclusive<u16>,
    /// A node whose lease is older than this is NotReady (k8s: 40 s lease, 50 s grace).
    pub node_lease: Duration,
    pub node_grace: Duration,
    /// Pods of a NotReady node are evicted after this.
    pub pod_eviction: Duration,
    /// Events not written for this long are deleted (`controllers::event_ttl`).
    pub event_ttl: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            cluster_cidr: "10.42.0.0/16".parse().expect("constant"),
            service_cidr: "10.43.0.0/16".parse().expect("constant"),
            node_port_range: 30000..=32767,
            node_lease: Duration::from_secs(40),
            node_grace: Duration::from_secs(50),
            pod_eviction: Duration::from_secs(300),
            event_ttl: Duration::from_secs(60 * 60),
        }
    }
}

impl ClusterConfig {
    /// Where Services' ClusterIPs and NodePorts come from.
    pub fn service_ranges(&self) -> Ranges {
        Ranges {
            service_cidr: self.service_cidr,
            node_ports: self.node_port_range.clone(),
        }
    }
}

pub struct ControlPlane {
    pub store: Arc<dyn Store>,
    pub pki: Arc<Pki>,
    pub config: ClusterConfig,
}

/// Where ClusterIPs and NodePorts come from (`--service-cidr`, `--node-port-range`).
#[derive(Debug, Clone)]
pub struct Ranges {
    pub service_cidr: Ipv4Net,
    pub node_ports: RangeInclusive<u16>,
}

impl Default for Ranges {
    fn default() -> Self {
        Ranges {
            service_cidr: "10.43.0.0/16".parse().expect("constant"),
            node_ports: 30000..=32767,
        }
    }
}

impl Ranges {
    /// The address kept for the `kubernetes` Service: the CIDR's first host.
    pub fn reserved_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.service_cidr.network()) + 1)
    }

    /// Addresses that can be handed out, in order.
    pub fn assignable(&self) -> RangeInclusive<u32> {
        let network = u32::from(self.service_cidr.network());
        let broadcast = u32::from(self.service_cidr.broadcast());
        (network + 2)..=broadcast.saturating_sub(1)
    }
}
