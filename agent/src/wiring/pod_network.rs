//! Wiring of the pod network across nodes into a joined agent: the cluster CIDR from the
//! registration, the pod MTU the backend leaves, and the sync task
//! (`join/pod_network.rs`).

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::Ipv4Net;
use tracing::{info, warn};

use super::NodeOptions;
use crate::join::bootstrap::Credentials;
use crate::join::{self, Joined};
use crate::network::podnet::{
    Backend, HostPodnetOps, LocalNode, PodnetSync, VXLAN_DEVICE, VXLAN_OVERHEAD,
};
use crate::network::{mtu_of_address, PodNetwork};

/// The cluster CIDR the control plane gave at registration. Credentials saved by an
/// older agent lack it: then the /16 around the pod CIDR, the default layout.
pub fn cluster_cidr(creds: &Credentials, pod_cidr: Ipv4Net) -> Ipv4Net {
    match creds.cluster_cidr.parse::<Ipv4Net>() {
        Ok(net) => net.trunc(),
        Err(_) => {
            let guess = Ipv4Net::new(pod_cidr.network(), 16.min(pod_cidr.prefix_len()))
                .map_or(pod_cidr, |n| n.trunc());
            warn!(cluster_cidr = %guess, "no cluster CIDR saved at registration: assuming the /16 around the pod CIDR");
            guess
        }
    }
}

/// Pods' MTU: with vxlan, the node interface's less the encapsulation, so a full-size
/// pod packet still fits in one tunnel packet. `None` (the uplink's) for host-gw.
pub fn pod_mtu(backend: Backend, node_ip: Option<IpAddr>) -> Option<u32> {
    match (backend, node_ip) {
        (Backend::Vxlan, Some(IpAddr::V4(ip))) if !ip.is_loopback() => {
            Some(mtu_of_address(ip) - VXLAN_OVERHEAD)
        }
        _ => None,
    }
}

/// Starts the sync task; without an IPv4 node address there is nothing to route by.
pub fn start(
    joined: &Joined,
    opts: &NodeOptions,
    node_ip: Option<IpAddr>,
    network: &PodNetwork,
    cluster_cidr: Ipv4Net,
) {
    let Some(IpAddr::V4(node_ip)) = node_ip else {
        warn!("no IPv4 node address: pods cannot reach other nodes' pods (set --node-ip)");
        return;
    };
    // A node known by 127.0.0.1 (a one-host cluster) has no peer that could reach it: no
    // tunnel device or routes on the host.
    if node_ip.is_loopback() {
        info!(%node_ip, "node address is loopback: no pod network across nodes");
        return;
    }
    let local = LocalNode {
        name: opts.node_name.clone(),
        node_ip,
        pod_cidr: network.config().pod_cidr,
        cluster_cidr,
        backend: opts.pod_network,
        vxlan_device: VXLAN_DEVICE.to_string(),
    };
    let sync = PodnetSync::new(
        Arc::new(HostPodnetOps),
        local,
        &network.config().bridge,
        network.mtu(),
    );
    tokio::spawn(join::pod_network::run(
        joined.channel.clone(),
        opts.node_name.clone(),
        sync,
    ));
}
