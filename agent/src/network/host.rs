//! The real `NetOps`: rtnetlink in the host namespace (and the pod's, for its side of
//! the veth), `/proc/sys`, and the `nft` binary.

use futures::future::BoxFuture;
use futures::FutureExt;

use super::error::NetworkError;
use super::netlink::connect;
use super::ops::{BridgeSpec, HostNetwork, NetOps, VethSpec, VethState};
use super::sysctl::Sysctl;
use super::{bridge, nft, veth};

#[derive(Debug, Default, Clone)]
pub struct HostOps {
    sysctl: Sysctl,
}

impl NetOps for HostOps {
    fn host_networks<'a>(
        &'a self,
        bridge: &'a str,
    ) -> BoxFuture<'a, Result<Vec<HostNetwork>, NetworkError>> {
        async move { bridge::host_networks(&connect()?, bridge).await }.boxed()
    }

    fn ensure_bridge<'a>(
        &'a self,
        spec: &'a BridgeSpec,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        async move { bridge::ensure(&connect()?, spec).await.map(|_| ()) }.boxed()
    }

    fn enable_forwarding(&self) -> BoxFuture<'_, Result<(), NetworkError>> {
        self.sysctl.enable_forwarding().boxed()
    }

    fn apply_nft<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<(), NetworkError>> {
        nft::run(script).boxed()
    }

    fn inspect_veth<'a>(
        &'a self,
        spec: &'a VethSpec,
    ) -> BoxFuture<'a, Result<VethState, NetworkError>> {
        async move { veth::inspect(&connect()?, spec).await }.boxed()
    }

    fn create_veth<'a>(&'a self, spec: &'a VethSpec) -> BoxFuture<'a, Result<(), NetworkError>> {
        async move { veth::create(&connect()?, spec).await }.boxed()
    }

    fn delete_link<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, NetworkError>> {
        async move { veth::delete(&connect()?, name).await }.boxed()
    }

    fn bridge_ports<'a>(
        &'a self,
        bridge: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, NetworkError>> {
        async move { veth::ports(&connect()?, bridge).await }.boxed()
    }
}
