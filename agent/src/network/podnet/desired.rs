//! What the peers call for: the kernel entries of every peer this node can reach, and a
//! reason for every peer it cannot. Pure, so the choices (DirectRouting, host-gw's
//! unreachable peers, a peer's bad data) are tested without a kernel.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::peers::Peer;
use super::{Backend, LocalNode};

/// A route to a peer's pod CIDR. `dev` is set for a tunnel route (`via` the peer's VTEP
/// address, `onlink` on the VXLAN device); unset, `via` is the peer's InternalIP on a
/// directly connected network and the kernel picks the interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteEntry {
    pub dst: Ipv4Net,
    pub via: Ipv4Addr,
    pub dev: Option<String>,
}

/// A permanent neighbour entry on the VXLAN device: the peer's VTEP address → its MAC.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NeighEntry {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

/// An FDB entry on the VXLAN device: frames for `mac` go in UDP to `dst`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FdbEntry {
    pub mac: [u8; 6],
    pub dst: Ipv4Addr,
}

/// A peer that gets no route, and why (shown in the NetworkUnavailable condition and an
/// event).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PeerProblem {
    pub peer: String,
    /// CamelCase, as a condition reason.
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub routes: BTreeSet<RouteEntry>,
    pub neighs: BTreeSet<NeighEntry>,
    pub fdbs: BTreeSet<FdbEntry>,
    pub problems: Vec<PeerProblem>,
}

/// The entries for `peers` (this node among them is skipped), given the networks this
/// node is directly connected to. Peers are taken in name order, so when two claim
/// overlapping pod CIDRs the same one wins on every node and on every sync.
pub fn desired(local: &LocalNode, connected: &[Ipv4Net], peers: &[Peer]) -> Desired {
    let mut out = Desired::default();
    let mut sorted: Vec<&Peer> = peers.iter().filter(|p| p.name != local.name).collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut taken: Vec<(Ipv4Net, &str)> = vec![(local.pod_cidr, local.name.as_str())];
    for peer in sorted {
        match entries_for(local, connected, peer, &taken) {
            Ok(entries) => {
                if let Some(cidr) = peer.pod_cidr {
                    taken.push((cidr, &peer.name));
                }
                out.routes.insert(entries.route);
                out.neighs.extend(entries.neigh);
                out.fdbs.extend(entries.fdb);
            }
            Err((reason, message)) => out.problems.push(PeerProblem {
                peer: peer.name.clone(),
                reason: reason.into(),
                message,
            }),
        }
    }
    out
}

struct PeerEntries {
    route: RouteEntry,
    neigh: Option<NeighEntry>,
    fdb: Option<FdbEntry>,
}

fn entries_for(
    local: &LocalNode,
    connected: &[Ipv4Net],
    peer: &Peer,
    taken: &[(Ipv4Net, &str)],
) -> Result<PeerEntries, (&'static str, String)> {
    let name = &peer.name;
    let Some(cidr) = peer.pod_cidr else {
        return Err(("NoPodCIDR", format!("node {name} has no pod CIDR yet")));
    };
    if !local.cluster_cidr.contains(&cidr) {
        return Err((
            "PodCIDROutsideCluster",
            format!(
                "node {name}'s pod CIDR {cidr} is outside the cluster CIDR {}",
                local.cluster_cidr
            ),
        ));
    }
    if let Some((other, owner)) = taken
        .iter()
        .find(|(net, _)| net.contains(&cidr) || cidr.contains(net))
    {
        return Err((
            "OverlappingPodCIDR",
            format!("node {name}'s pod CIDR {cidr} overlaps {other} of node {owner}"),
        ));
    }
    let Some(node_ip) = peer.node_ip else {
        return Err(("NoNodeAddress", format!("node {name} has no InternalIP")));
    };
    if node_ip == local.node_ip {
        return Err((
            "DuplicateNodeAddress",
            format!("node {name} reports this node's address {node_ip}"),
        ));
    }
    let direct = connected.iter().any(|net| net.contains(&node_ip));
    if direct {
        // host-gw, and vxlan's DirectRouting: no encapsulation on a shared network.
        return Ok(PeerEntries {
            route: RouteEntry {
                dst: cidr,
                via: node_ip,
                dev: None,
            },
            neigh: None,
            fdb: None,
        });
    }
    match local.backend {
        Backend::HostGw => Err((
            "NoDirectRoute",
            format!(
                "host-gw: node {name} ({node_ip}) is not on a network this node is directly connected to; its pods are unreachable from here (use --pod-network vxlan across routers)"
            ),
        )),
        Backend::Vxlan => {
            let Some(mac) = peer.vtep_mac else {
                return Err((
                    "NoVtep",
                    format!("node {name} has not published its VXLAN address (backend-data) yet"),
                ));
            };
            let vtep = cidr.network();
            Ok(PeerEntries {
                route: RouteEntry {
                    dst: cidr,
                    via: vtep,
                    dev: Some(local.vxlan_device.clone()),
                },
                neigh: Some(NeighEntry { ip: vtep, mac }),
                fdb: Some(FdbEntry { mac, dst: node_ip }),
            })
        }
    }
}
