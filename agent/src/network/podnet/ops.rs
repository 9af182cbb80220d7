//! The privileged calls of the pod network across nodes, behind one trait (the same
//! pattern as `network/ops.rs`): the real one is `host.rs`, the recording fake
//! `fake.rs`.

use std::net::Ipv4Addr;

use futures::future::BoxFuture;
use ipnet::Ipv4Net;

use super::desired::{FdbEntry, NeighEntry, RouteEntry};
use crate::network::NetworkError;

/// The VXLAN device: flannel's settings (learning off, our own FDB and neighbour
/// entries), the node's address as the tunnel source, the VTEP address (`.0` of the pod
/// CIDR, /32) on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanSpec {
    pub name: String,
    pub vni: u32,
    pub port: u16,
    pub local: Ipv4Addr,
    pub vtep: Ipv4Addr,
    pub mtu: u32,
}

pub trait PodnetOps: Send + Sync + 'static {
    /// Creates the device or brings an existing one in line (a device with another VNI,
    /// port or local address is recreated); returns its MAC. Idempotent.
    fn ensure_vxlan<'a>(
        &'a self,
        spec: &'a VxlanSpec,
    ) -> BoxFuture<'a, Result<[u8; 6], NetworkError>>;

    /// Deletes the link `name`; `false` if there was none.
    fn delete_link<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, NetworkError>>;

    /// The IPv4 networks of the addresses on every interface but `except` (the bridge,
    /// the VXLAN device): the networks a peer can be reached on directly.
    fn connected_networks<'a>(
        &'a self,
        except: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<Ipv4Net>, NetworkError>>;

    /// The main table's routes with skiff's route protocol.
    fn routes(&self) -> BoxFuture<'_, Result<Vec<RouteEntry>, NetworkError>>;
    fn add_route<'a>(&'a self, route: &'a RouteEntry) -> BoxFuture<'a, Result<(), NetworkError>>;
    fn del_route<'a>(&'a self, route: &'a RouteEntry) -> BoxFuture<'a, Result<(), NetworkError>>;

    /// Permanent IPv4 neighbour entries on `dev`.
    fn neighs<'a>(&'a self, dev: &'a str) -> BoxFuture<'a, Result<Vec<NeighEntry>, NetworkError>>;
    fn set_neigh<'a>(
        &'a self,
        dev: &'a str,
        entry: &'a NeighEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>>;
    fn del_neigh<'a>(
        &'a self,
        dev: &'a str,
        entry: &'a NeighEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>>;

    /// FDB entries with a remote destination on `dev`.
    fn fdbs<'a>(&'a self, dev: &'a str) -> BoxFuture<'a, Result<Vec<FdbEntry>, NetworkError>>;
    fn set_fdb<'a>(
        &'a self,
        dev: &'a str,
        entry: &'a FdbEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>>;
    fn del_fdb<'a>(
        &'a self,
        dev: &'a str,
        entry: &'a FdbEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>>;
}
