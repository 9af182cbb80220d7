//! Keeps the kernel in step with the peers: computes what they call for (`desired.rs`),
//! lists what is there (only skiff's: routes with its protocol, entries on its VXLAN
//! device), removes what is stale and adds what is missing. A restarted agent adopts
//! what it finds; a failed entry is reported for its peer and the others still go in.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use ipnet::Ipv4Net;

use tracing::{info, warn};

use super::desired::{desired, Desired, PeerProblem};
use super::ops::{PodnetOps, VxlanSpec};
use super::peers::Peer;
use super::{Backend, LocalNode, VXLAN_PORT, VXLAN_VNI};
use crate::network::NetworkError;

/// What one sync did and which peers have no route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: usize,
    pub removed: usize,
    pub problems: Vec<PeerProblem>,
}

pub struct PodnetSync {
    ops: Arc<dyn PodnetOps>,
    local: LocalNode,
    /// Interfaces whose networks do not count as direct paths to peers.
    bridge: String,
    /// The VXLAN device's MTU (the uplink's less the VXLAN overhead).
    mtu: u32,
    vtep_mac: Option<[u8; 6]>,
    /// Why the VXLAN device could not be made (the port in use, no vxlan module).
    vxlan_error: Option<String>,
}

impl PodnetSync {
    pub fn new(ops: Arc<dyn PodnetOps>, local: LocalNode, bridge: &str, mtu: u32) -> Self {
        PodnetSync {
            ops,
            local,
            bridge: bridge.to_string(),
            mtu,
            vtep_mac: None,
            vxlan_error: None,
        }
    }

    pub fn local(&self) -> &LocalNode {
        &self.local
    }

    /// The VXLAN device's MAC, once it exists.
    pub fn vtep_mac(&self) -> Option<[u8; 6]> {
        self.vtep_mac
    }

    /// Why the VXLAN device is missing, if it is.
    pub fn vxlan_error(&self) -> Option<&str> {
        self.vxlan_error.as_deref()
    }

    /// Makes the backend's device: the VXLAN device for vxlan; for host-gw, removes one a
    /// vxlan run left. A device that cannot be made is remembered (and retried on every
    /// sync): peers on this node's networks still get direct routes meanwhile.
    pub async fn ensure_device(&mut self) {
        let dev = self.local.vxlan_device.clone();
        match self.local.backend {
            Backend::HostGw => {
                if let Err(error) = self.ops.delete_link(&dev).await {
                    warn!(device = %dev, %error, "leftover vxlan device not removed");
                }
            }
            Backend::Vxlan => {
                let spec = VxlanSpec {
                    name: dev.clone(),
                    vni: VXLAN_VNI,
                    port: VXLAN_PORT,
                    local: self.local.node_ip,
                    vtep: self.local.pod_cidr.network(),
                    mtu: self.mtu,
                };
                match self.ops.ensure_vxlan(&spec).await {
                    Ok(mac) => {
                        if self.vtep_mac != Some(mac) {
                            info!(device = %dev, vni = VXLAN_VNI, port = VXLAN_PORT, mtu = self.mtu, "vxlan device ready");
                        }
                        self.vtep_mac = Some(mac);
                        self.vxlan_error = None;
                    }
                    Err(error) => {
                        warn!(device = %dev, %error, "vxlan device not created");
                        self.vtep_mac = None;
                        self.vxlan_error = Some(format!(
                            "cannot create the vxlan device {dev} (UDP port {VXLAN_PORT}, VNI {VXLAN_VNI}): {error}"
                        ));
                    }
                }
            }
        }
    }

    /// One pass: the kernel made to match `peers`. Errors only when the kernel cannot be
    /// read; entries that fail to apply are reported as their peers' problems.
    pub async fn sync(&mut self, peers: &[Peer]) -> Result<SyncReport, NetworkError> {
        if self.local.backend == Backend::Vxlan && self.vtep_mac.is_none() {
            self.ensure_device().await;
        }
        let dev = self.local.vxlan_device.clone();
        let except = [self.bridge.as_str(), dev.as_str(), "lo"];
        let connected = self.ops.connected_networks(&except).await?;
        let mut want = desired(&self.local, &connected, peers);
        let device_up = self.local.backend == Backend::Vxlan && self.vtep_mac.is_some();
        if !device_up {
            self.drop_tunnel_entries(&mut want);
        }
        let mut report = SyncReport {
            problems: std::mem::take(&mut want.problems),
            ..Default::default()
        };

        let have_routes: BTreeSet<_> = self.ops.routes().await?.into_iter().collect();
        let (have_neighs, have_fdbs) = if device_up {
            (
                self.ops.neighs(&dev).await?.into_iter().collect(),
                self.ops.fdbs(&dev).await?.into_iter().collect(),
            )
        } else {
            (BTreeSet::new(), BTreeSet::new())
        };

        // Stale entries first (a changed peer's old entries before its new ones), then
        // FDB and neighbour entries before the routes that need them. Within a phase the
        // calls run concurrently.
        let dst32 = |ip| Ipv4Net::new(ip, 32).expect("a /32");
        let ops = self.ops.as_ref();
        let calls: Vec<Call<'_>> = have_routes
            .difference(&want.routes)
            .map(|r| (r.dst, ops.del_route(r)))
            .collect();
        report.removed += self.phase(&mut report, peers, "remove route", calls).await;
        let calls = have_fdbs
            .difference(&want.fdbs)
            .map(|f| (self.cidr_of_fdb(peers, f.dst), ops.del_fdb(&dev, f)))
            .collect();
        report.removed += self
            .phase(&mut report, peers, "remove fdb entry", calls)
            .await;
        let calls = have_neighs
            .difference(&want.neighs)
            .map(|n| (dst32(n.ip), ops.del_neigh(&dev, n)))
            .collect();
        report.removed += self
            .phase(&mut report, peers, "remove neighbour", calls)
            .await;
        let calls = want
            .fdbs
            .difference(&have_fdbs)
            .map(|f| (self.cidr_of_fdb(peers, f.dst), ops.set_fdb(&dev, f)))
            .collect();
        report.added += self.phase(&mut report, peers, "add fdb entry", calls).await;
        let calls = want
            .neighs
            .difference(&have_neighs)
            .map(|n| (dst32(n.ip), ops.set_neigh(&dev, n)))
            .collect();
        report.added += self.phase(&mut report, peers, "add neighbour", calls).await;
        let calls = want
            .routes
            .difference(&have_routes)
            .map(|r| (r.dst, ops.add_route(r)))
            .collect();
        report.added += self.phase(&mut report, peers, "add route", calls).await;
        if report.added + report.removed > 0 {
            info!(
                added = report.added,
                removed = report.removed,
                problems = report.problems.len(),
                "pod network routes synced"
            );
        }
        Ok(report)
    }

    /// Without the VXLAN device, peers that need the tunnel get no entries and are
    /// reported; direct routes stay.
    fn drop_tunnel_entries(&self, want: &mut Desired) {
        let tunnelled: Vec<_> = want
            .routes
            .iter()
            .filter(|r| r.dev.is_some())
            .cloned()
            .collect();
        for route in tunnelled {
            want.routes.remove(&route);
            let why = self
                .vxlan_error
                .clone()
                .unwrap_or_else(|| "the vxlan device is not up".into());
            want.problems.push(PeerProblem {
                peer: format!("pod CIDR {}", route.dst),
                reason: "VxlanUnavailable".into(),
                message: why,
            });
        }
        want.neighs.clear();
        want.fdbs.clear();
    }

    fn cidr_of_fdb(&self, peers: &[Peer], node_ip: std::net::Ipv4Addr) -> Ipv4Net {
        peers
            .iter()
            .find(|p| p.node_ip == Some(node_ip))
            .and_then(|p| p.pod_cidr)
            .unwrap_or_else(|| Ipv4Net::new(node_ip, 32).expect("a /32"))
    }

    /// Runs one phase's kernel changes, at most [`CONCURRENCY`] at a time; returns how
    /// many worked. A failure becomes a problem of the peer owning its `dst`.
    async fn phase(
        &self,
        report: &mut SyncReport,
        peers: &[Peer],
        what: &str,
        calls: Vec<Call<'_>>,
    ) -> usize {
        // Boxed with their prefix first: the stream then holds one concrete future type,
        // which keeps the sync task `Send` (an async closure here would not be).
        let tagged: Vec<BoxFuture<'_, (Ipv4Net, Result<(), NetworkError>)>> = calls
            .into_iter()
            .map(|(dst, call)| call.map(move |result| (dst, result)).boxed())
            .collect();
        let results: Vec<_> = futures::stream::iter(tagged)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut done = 0;
        for (dst, result) in results {
            let Err(error) = result else {
                done += 1;
                continue;
            };
            let peer = peers
                .iter()
                .find(|p| {
                    p.pod_cidr
                        .is_some_and(|c| c.contains(&dst) || dst.contains(&c))
                })
                .map_or_else(|| dst.to_string(), |p| p.name.clone());
            warn!(peer = %peer, %dst, %error, "{what} failed");
            report.problems.push(PeerProblem {
                peer,
                reason: "RouteFailed".into(),
                message: format!("{what} for {dst}: {error}"),
            });
        }
        done
    }
}

/// One kernel change and the prefix it serves (to name the peer when it fails).
type Call<'a> = (Ipv4Net, BoxFuture<'a, Result<(), NetworkError>>);

/// Kernel changes in flight at once: each holds a netlink socket.
const CONCURRENCY: usize = 32;

/// For `skiff-agent cleanup` and tests: removes every route with skiff's protocol and
/// the VXLAN device (its neighbour and FDB entries go with it).
pub async fn remove_all(ops: &dyn PodnetOps, vxlan_device: &str) -> Result<usize, NetworkError> {
    let routes = ops.routes().await?;
    for route in &routes {
        ops.del_route(route).await?;
    }
    let device = ops.delete_link(vxlan_device).await?;
    Ok(routes.len() + usize::from(device))
}
