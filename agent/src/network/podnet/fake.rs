//! A recording [`PodnetOps`] for unit tests: an in-memory kernel (device, routes,
//! neighbour and FDB entries) plus the log of calls that changed it.

use std::collections::BTreeSet;
use std::sync::Mutex;

use futures::future::BoxFuture;
use futures::FutureExt;
use ipnet::Ipv4Net;

use super::desired::{FdbEntry, NeighEntry, RouteEntry};
use super::ops::{PodnetOps, VxlanSpec};
use crate::network::NetworkError;

#[derive(Debug, Default)]
pub struct FakeKernel {
    pub device: Option<VxlanSpec>,
    pub routes: BTreeSet<RouteEntry>,
    pub neighs: BTreeSet<NeighEntry>,
    pub fdbs: BTreeSet<FdbEntry>,
    pub connected: Vec<Ipv4Net>,
    /// Every change, as `verb what`.
    pub calls: Vec<String>,
    /// `ensure_vxlan` fails with this while set (the port in use).
    pub vxlan_error: Option<String>,
    /// `add_route` fails for these prefixes.
    pub failing_routes: BTreeSet<Ipv4Net>,
}

#[derive(Debug, Default)]
pub struct RecordingPodnetOps {
    pub kernel: Mutex<FakeKernel>,
}

pub const FAKE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

impl RecordingPodnetOps {
    pub fn connected_to(nets: &[&str]) -> Self {
        let ops = Self::default();
        ops.kernel.lock().unwrap().connected = nets.iter().map(|n| n.parse().unwrap()).collect();
        ops
    }

    /// The calls so far, emptied.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.kernel.lock().unwrap().calls)
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeKernel) -> T) -> T {
        f(&mut self.kernel.lock().unwrap())
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    futures::future::ready(value).boxed()
}

impl PodnetOps for RecordingPodnetOps {
    fn ensure_vxlan<'a>(
        &'a self,
        spec: &'a VxlanSpec,
    ) -> BoxFuture<'a, Result<[u8; 6], NetworkError>> {
        ready(self.with(|k| {
            if let Some(e) = &k.vxlan_error {
                return Err(NetworkError::Netlink(e.clone()));
            }
            if k.device.as_ref() != Some(spec) {
                k.calls.push(format!(
                    "vxlan {} vni {} port {} local {} mtu {}",
                    spec.name, spec.vni, spec.port, spec.local, spec.mtu
                ));
                k.device = Some(spec.clone());
            }
            Ok(FAKE_MAC)
        }))
    }

    fn delete_link<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, NetworkError>> {
        ready(Ok(self.with(|k| {
            let had = k.device.as_ref().is_some_and(|d| d.name == name);
            if had {
                k.calls.push(format!("delete link {name}"));
                k.device = None;
                k.neighs.clear();
                k.fdbs.clear();
                let tunnel: Vec<_> = k
                    .routes
                    .iter()
                    .filter(|r| r.dev.as_deref() == Some(name))
                    .cloned()
                    .collect();
                for r in tunnel {
                    k.routes.remove(&r);
                }
            }
            had
        })))
    }

    fn connected_networks<'a>(
        &'a self,
        _except: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<Ipv4Net>, NetworkError>> {
        ready(Ok(self.with(|k| k.connected.clone())))
    }

    fn routes(&self) -> BoxFuture<'_, Result<Vec<RouteEntry>, NetworkError>> {
        ready(Ok(self.with(|k| k.routes.iter().cloned().collect())))
    }

    fn add_route<'a>(&'a self, r: &'a RouteEntry) -> BoxFuture<'a, Result<(), NetworkError>> {
        ready(self.with(|k| {
            if k.failing_routes.contains(&r.dst) {
                return Err(NetworkError::Netlink(format!(
                    "add route {}: File exists",
                    r.dst
                )));
            }
            k.calls.push(format!("add route {}", show_route(r)));
            k.routes.insert(r.clone());
            Ok(())
        }))
    }

    fn del_route<'a>(&'a self, r: &'a RouteEntry) -> BoxFuture<'a, Result<(), NetworkError>> {
        ready(self.with(|k| {
            k.calls.push(format!("del route {}", show_route(r)));
            k.routes.remove(r);
            Ok(())
        }))
    }

    fn neighs<'a>(&'a self, _dev: &'a str) -> BoxFuture<'a, Result<Vec<NeighEntry>, NetworkError>> {
        ready(Ok(self.with(|k| k.neighs.iter().cloned().collect())))
    }

    fn set_neigh<'a>(
        &'a self,
        _dev: &'a str,
        e: &'a NeighEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        ready(self.with(|k| {
            k.calls.push(format!(
                "add neigh {} {}",
                e.ip,
                super::peers::format_mac(&e.mac)
            ));
            k.neighs.insert(e.clone());
            Ok(())
        }))
    }

    fn del_neigh<'a>(
        &'a self,
        _dev: &'a str,
        e: &'a NeighEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        ready(self.with(|k| {
            k.calls.push(format!(
                "del neigh {} {}",
                e.ip,
                super::peers::format_mac(&e.mac)
            ));
            k.neighs.remove(e);
            Ok(())
        }))
    }

    fn fdbs<'a>(&'a self, _dev: &'a str) -> BoxFuture<'a, Result<Vec<FdbEntry>, NetworkError>> {
        ready(Ok(self.with(|k| k.fdbs.iter().cloned().collect())))
    }

    fn set_fdb<'a>(
        &'a self,
        _dev: &'a str,
        e: &'a FdbEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        ready(self.with(|k| {
            k.calls.push(format!(
                "add fdb {} dst {}",
                super::peers::format_mac(&e.mac),
                e.dst
            ));
            k.fdbs.insert(e.clone());
            Ok(())
        }))
    }

    fn del_fdb<'a>(
        &'a self,
        _dev: &'a str,
        e: &'a FdbEntry,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        ready(self.with(|k| {
            k.calls.push(format!(
                "del fdb {} dst {}",
                super::peers::format_mac(&e.mac),
                e.dst
            ));
            k.fdbs.remove(e);
            Ok(())
        }))
    }
}

fn show_route(r: &RouteEntry) -> String {
    match &r.dev {
        Some(dev) => format!("{} via {} dev {dev} onlink", r.dst, r.via),
        None => format!("{} via {}", r.dst, r.via),
    }
}
