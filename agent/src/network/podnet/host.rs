//! The real [`PodnetOps`]: rtnetlink in the namespace the agent runs in.

use futures::future::BoxFuture;
use futures::FutureExt;
use ipnet::Ipv4Net;

use super::desired::{FdbEntry, NeighEntry, RouteEntry};
use super::ops::{PodnetOps, VxlanSpec};
use super::{neigh, routes, vxlan};
use crate::network::netlink::{self, connect, errno, nl_err};
use crate::network::NetworkError;

#[derive(Debug, Default, Clone)]
pub struct HostPodnetOps;

impl PodnetOps for HostPodnetOps {
    fn ensure_vxlan<'a>(
        &'a self,
        spec: &'a VxlanSpec,
    ) -> BoxFuture<'a, Result<[u8; 6], NetworkError>> {
        async move { vxlan::ensure(&connect()?, spec).await }.boxed()
    }

    fn delete_link<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, NetworkError>> {
        async move {
            let handle = connect()?;
            let Some(link) = netlink::link_by_name(&handle, name).await? else {
                return Ok(false);
            };
            match handle.link().del(link.header.index).execute().await {
                Ok(()) => Ok(true),
                Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
                Err(e) => Err(nl_err(format!("delete {name}"))(e)),
            }
        }
        .boxed()
    }

    fn connected_networks<'a>(
        &'a self,
        except: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<Ipv4Net>, NetworkError>> {
        async move { routes::connected(&connect()?, except).await }.boxed()
    }

    fn routes(&self) -> BoxFuture<'_, Result<Vec<RouteEntry>, NetworkError>> {
        async move { routes::list(&connect()?).await }.boxed()
    }

    fn add_route<'a>(&'a self, route: &'a RouteEntry) -> BoxFuture<'a, Result<(), NetworkError>> {
        async move { routes::add(&connect()?, route).await }.boxed()
    }

    fn del_route<'a>(&'a self, route: &'a RouteEntry) -> BoxFuture<'a, Result<(), NetworkError>> {
        async move { routes::del(&connect()?, route).await }.boxed()
    }

    fn neighs<'a>(&'a self, dev: &'a str) -> BoxFuture<'a, Result<Vec<NeighEntry>, NetworkError>> {
        async move { neigh::neighs(&connect()?, dev).await }.boxed()
    }

    fn set_neigh<'a>(
        &'a self,
        dev: &'a str,
        entry: &'a NeighEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        async move { neigh::set_neigh(&connect()?, dev, entry).await }.boxed()
    }

    fn del_neigh<'a>(
        &'a self,
        dev: &'a str,
        entry: &'a NeighEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        async move { neigh::del_neigh(&connect()?, dev, entry).await }.boxed()
    }

    fn fdbs<'a>(&'a self, dev: &'a str) -> BoxFuture<'a, Result<Vec<FdbEntry>, NetworkError>> {
        async move { neigh::fdbs(&connect()?, dev).await }.boxed()
    }

    fn set_fdb<'a>(
        &'a self,
        dev: &'a str,
        entry: &'a FdbEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        async move { neigh::set_fdb(&connect()?, dev, entry).await }.boxed()
    }

    fn del_fdb<'a>(
        &'a self,
        dev: &'a str,
        entry: &'a FdbEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        async move { neigh::del_fdb(&connect()?, dev, entry).await }.boxed()
    }
}
