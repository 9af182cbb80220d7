//! The pod network across nodes, as flannel does it: every node routes each peer's pod
//! CIDR, either through a VXLAN device (`vxlan`, the default: VNI 1, UDP 8472) or
//! straight to the peer's InternalIP (`host-gw`, and vxlan's DirectRouting for peers on
//! a directly connected network).
//!
//! - `peers.rs`: a Node object as a peer (its address, pod CIDR and VTEP MAC, read from
//!   flannel's annotations) and the annotations this node publishes.
//! - `desired.rs`: the routes, neighbour and FDB entries the peers call for, and the
//!   peers that get none (with the reason), as a pure function.
//! - `sync.rs`: diffs that with what the kernel holds and applies the difference.
//! - `ops.rs`: the privileged calls behind [`PodnetOps`]; `host.rs`, `vxlan.rs`,
//!   `routes.rs` and `neigh.rs` are the rtnetlink side, `fake.rs` the recording fake.
//!
//! What is ours: routes with protocol [`ROUTE_PROTOCOL`], and the VXLAN device with every
//! neighbour and FDB entry on it. Nothing else is read for removal or touched.

mod desired;
#[cfg(test)]
pub mod fake;
mod host;
mod neigh;
mod ops;
mod peers;
mod routes;
mod sync;
mod vxlan;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

pub use desired::{desired, Desired, FdbEntry, NeighEntry, PeerProblem, RouteEntry};
pub use host::HostPodnetOps;
pub use ops::{PodnetOps, VxlanSpec};
pub use peers::{backend_annotations, peer_of, Peer, BACKEND_DATA, BACKEND_TYPE, PUBLIC_IP};
pub use routes::source_address_towards;
pub use sync::{remove_all, PodnetSync, SyncReport};

/// The VXLAN device, named like flannel's `flannel.1` after its VNI.
pub const VXLAN_DEVICE: &str = "skiff.1";
pub const VXLAN_VNI: u32 = 1;
/// Linux's historical VXLAN port, as flannel uses (not IANA's 4789).
pub const VXLAN_PORT: u16 = 8472;
/// Bytes VXLAN adds to each packet (outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14).
pub const VXLAN_OVERHEAD: u32 = 50;
/// `proto 83` on every route skiff makes, so a restarted agent finds (and only finds)
/// its own routes. Not a number iproute2 names or a routing daemon uses.
pub const ROUTE_PROTOCOL: u8 = 83;

/// How pod traffic reaches other nodes (`--pod-network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Vxlan,
    HostGw,
}

impl Backend {
    pub fn from_flag(flag: &str) -> Result<Backend, String> {
        match flag {
            "vxlan" => Ok(Backend::Vxlan),
            "host-gw" => Ok(Backend::HostGw),
            other => Err(format!(
                "--pod-network {other:?}: expected vxlan or host-gw"
            )),
        }
    }

    /// The name flannel's `backend-type` annotation carries.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Vxlan => "vxlan",
            Backend::HostGw => "host-gw",
        }
    }
}

/// This node, as the pod network across nodes sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNode {
    pub name: String,
    pub node_ip: Ipv4Addr,
    pub pod_cidr: Ipv4Net,
    /// Peers' pod CIDRs must lie inside it: a peer cannot claim routes to anything else.
    pub cluster_cidr: Ipv4Net,
    pub backend: Backend,
    /// [`VXLAN_DEVICE`] on a node; tests use their own.
    pub vxlan_device: String,
}

#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;
