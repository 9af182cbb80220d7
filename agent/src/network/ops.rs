//! The privileged half of the pod network behind one trait, youki `Syscall` style: the
//! real implementation talks rtnetlink, `/proc/sys` and `nft`; the recording fake in
//! `fake.rs` lets the bookkeeping in `PodNetwork` (idempotence, rollback, gc) be tested
//! without root.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use futures::future::BoxFuture;
use ipnet::Ipv4Net;

use super::error::NetworkError;

/// The node's bridge: named, holding the gateway address, with the pods' MTU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    pub mtu: u32,
}

/// One pod's veth pair: `host` on the bridge, `eth0` inside `netns` with `ip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    pub host: String,
    pub netns: PathBuf,
    pub bridge: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mtu: u32,
}

/// An IPv4 network the node already uses, found as an interface address or a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNetwork {
    pub iface: String,
    pub net: Ipv4Net,
    pub kind: HostNetworkKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostNetworkKind {
    Address,
    Route,
}

impl std::fmt::Display for HostNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            HostNetworkKind::Address => "address",
            HostNetworkKind::Route => "route",
        };
        write!(f, "{} ({kind} on {})", self.net, self.iface)
    }
}

/// What an earlier set-up left for a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VethState {
    /// No host-side veth: set the pod up from scratch.
    Missing,
    /// Both ends exist and are configured as the spec says.
    Ready,
    /// Something exists but differs (the reason says what): delete and redo.
    Broken(String),
}

/// Privileged operations. Every call is idempotent where the doc says so, and none
/// touches anything but the named bridge, veths and nftables table.
pub trait NetOps: Send + Sync + 'static {
    /// IPv4 addresses and main-table routes on every interface except `bridge`.
    fn host_networks<'a>(
        &'a self,
        bridge: &'a str,
    ) -> BoxFuture<'a, Result<Vec<HostNetwork>, NetworkError>>;

    /// Creates the bridge or brings an existing one in line (up, MTU, only the gateway
    /// address). Idempotent.
    fn ensure_bridge<'a>(&'a self, spec: &'a BridgeSpec)
        -> BoxFuture<'a, Result<(), NetworkError>>;

    /// ip_forward and bridge netfilter. Idempotent.
    fn enable_forwarding(&self) -> BoxFuture<'_, Result<(), NetworkError>>;

    /// Runs an nft script as one transaction.
    fn apply_nft<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<(), NetworkError>>;

    fn inspect_veth<'a>(
        &'a self,
        spec: &'a VethSpec,
    ) -> BoxFuture<'a, Result<VethState, NetworkError>>;

    /// Creates the pair straight into the pod's netns and configures the pod side.
    /// On failure nothing of the pair is left behind.
    fn create_veth<'a>(&'a self, spec: &'a VethSpec) -> BoxFuture<'a, Result<(), NetworkError>>;

    /// Deletes a link by name; `false` if there was none. Deleting one end of a veth
    /// pair deletes the other.
    fn delete_link<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, NetworkError>>;

    /// Names of the veths attached to `bridge`.
    fn bridge_ports<'a>(
        &'a self,
        bridge: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, NetworkError>>;
}
