//! The node's pod bridge (`skiff0`): holds the gateway address, carries the pods' MTU,
//! and a fixed MAC address. A bridge created without one takes the lowest MAC of its
//! ports and changes it as pods come and go, which leaves every pod's ARP entry for the
//! gateway stale for a while; an address set at creation stays.
//!
//! Also the overlap check: a pod CIDR that the node already uses (an address or a route
//! on another interface) would shadow those hosts for the pods, so `init` refuses it.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::InfoKind;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteType};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, RouteMessageBuilder};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::error::NetworkError;
use super::netlink::{self, errno, link_kind, link_name, nl_err};
use super::ops::{BridgeSpec, HostNetwork, HostNetworkKind};

/// Creates the bridge, or brings an existing one in line: up, MTU, and the gateway as
/// its only IPv4 address (an address left from an earlier pod CIDR is removed).
pub async fn ensure(handle: &Handle, spec: &BridgeSpec) -> Result<u32, NetworkError> {
    let name = &spec.name;
    let link = match netlink::link_by_name(handle, name).await? {
        Some(link) => link,
        None => {
            let create = LinkBridge::new(name)
                .mtu(spec.mtu)
                .address(bridge_mac(name).to_vec())
                .build();
            match handle.link().add(create).execute().await {
                Ok(()) => info!(bridge = %name, mtu = spec.mtu, "bridge created"),
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(nl_err(format!("create bridge {name}"))(e)),
            }
            netlink::link_by_name(handle, name)
                .await?
                .ok_or_else(|| NetworkError::Netlink(format!("bridge {name} vanished")))?
        }
    };
    if link_kind(&link) != Some(&InfoKind::Bridge) {
        return Err(NetworkError::Netlink(format!(
            "{name} exists and is not a bridge"
        )));
    }
    let index = link.header.index;
    if !netlink::link_is_up(&link) || netlink::link_mtu(&link) != Some(spec.mtu) {
        let set = LinkUnspec::new_with_index(index).mtu(spec.mtu).up().build();
        handle
            .link()
            .set(set)
            .execute()
            .await
            .map_err(nl_err(format!("set {name} up, mtu {}", spec.mtu)))?;
    }
    ensure_gateway(handle, index, spec).await?;
    Ok(index)
}

async fn ensure_gateway(
    handle: &Handle,
    index: u32,
    spec: &BridgeSpec,
) -> Result<(), NetworkError> {
    let change =
        netlink::ensure_only_ipv4(handle, index, &spec.name, spec.gateway, spec.prefix_len).await?;
    for (address, prefix_len) in change.removed {
        warn!(bridge = %spec.name, %address, prefix_len, "stale bridge address removed");
    }
    if change.added {
        info!(bridge = %spec.name, gateway = %spec.gateway, "gateway address added");
    }
    Ok(())
}

/// Deletes the bridge; `false` if there was none.
pub async fn delete(handle: &Handle, name: &str) -> Result<bool, NetworkError> {
    let Some(link) = netlink::link_by_name(handle, name).await? else {
        return Ok(false);
    };
    match handle.link().del(link.header.index).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(nl_err(format!("delete {name}"))(e)),
    }
}

/// IPv4 addresses and main-table routes (but the default route) of every interface
/// other than `bridge`.
pub async fn host_networks(
    handle: &Handle,
    bridge: &str,
) -> Result<Vec<HostNetwork>, NetworkError> {
    let names: HashMap<u32, String> = netlink::all_links(handle)
        .await?
        .iter()
        .filter_map(|l| link_name(l).map(|n| (l.header.index, n.to_string())))
        .collect();
    let iface = |index: u32| {
        names
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("if{index}"))
    };
    let mut found = Vec::new();
    let addrs: Vec<AddressMessage> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list addresses"))?;
    for msg in &addrs {
        let name = iface(msg.header.index);
        if name == bridge {
            continue;
        }
        if let Some(ip) = netlink::address_ipv4(msg) {
            if let Ok(net) = Ipv4Net::new(ip, msg.header.prefix_len) {
                found.push(HostNetwork {
                    iface: name,
                    net: net.trunc(),
                    kind: HostNetworkKind::Address,
                });
            }
        }
    }
    let routes: Vec<_> = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list routes"))?;
    for route in routes {
        let table = route
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::Table(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(u32::from(route.header.table));
        let prefix = route.header.destination_prefix_length;
        if table != u32::from(RouteHeader::RT_TABLE_MAIN)
            || prefix == 0
            || route.header.kind != RouteType::Unicast
        {
            continue;
        }
        let mut dest = None;
        let mut oif = None;
        for attr in &route.attributes {
            match attr {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => dest = Some(*ip),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        let (Some(dest), Some(oif)) = (dest, oif) else {
            continue;
        };
        let name = iface(oif);
        if name == bridge {
            continue;
        }
        if let Ok(net) = Ipv4Net::new(dest, prefix) {
            found.push(HostNetwork {
                iface: name,
                net: net.trunc(),
                kind: HostNetworkKind::Route,
            });
        }
    }
    Ok(found)
}

/// The first network of the node that shares addresses with `cidr`.
pub fn find_overlap(cidr: Ipv4Net, nets: &[HostNetwork]) -> Option<&HostNetwork> {
    let cidr = cidr.trunc();
    nets.iter()
        .find(|n| n.net.contains(&cidr.network()) || cidr.contains(&n.net.network()))
}

/// A locally administered unicast MAC derived from the bridge name, stable across
/// restarts and different between bridges.
pub fn bridge_mac(name: &str) -> [u8; 6] {
    let hash = Sha256::digest(format!("skiff bridge {name}").as_bytes());
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&hash[..6]);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hn(iface: &str, net: &str, kind: HostNetworkKind) -> HostNetwork {
        HostNetwork {
            iface: iface.into(),
            net: net.parse().unwrap(),
            kind,
        }
    }

    #[test]
    fn overlap_either_way() {
        let nets = vec![
            hn("eth0", "192.168.1.0/24", HostNetworkKind::Address),
            hn("wg0", "10.0.0.0/8", HostNetworkKind::Route),
            hn("eth1", "10.42.0.128/25", HostNetworkKind::Address),
        ];
        let cidr: Ipv4Net = "10.42.0.0/24".parse().unwrap();
        // The wider route covers the CIDR; listed first, it is the one named.
        let hit = find_overlap(cidr, &nets).unwrap();
        assert_eq!(hit.to_string(), "10.0.0.0/8 (route on wg0)");
        // A narrower network inside the CIDR is an overlap too.
        let hit = find_overlap(cidr, &nets[2..]).unwrap();
        assert_eq!(hit.to_string(), "10.42.0.128/25 (address on eth1)");
        assert!(find_overlap("10.43.0.0/16".parse().unwrap(), &nets[..1]).is_none());
        assert!(find_overlap("172.16.0.0/12".parse().unwrap(), &nets).is_none());
    }

    #[test]
    fn adjacent_networks_do_not_overlap() {
        let nets = vec![hn("eth0", "10.42.1.0/24", HostNetworkKind::Address)];
        assert!(find_overlap("10.42.0.0/24".parse().unwrap(), &nets).is_none());
        assert!(find_overlap("10.42.2.0/24".parse().unwrap(), &nets).is_none());
    }

    #[test]
    fn bridge_mac_is_local_unicast_and_stable() {
        let mac = bridge_mac("skiff0");
        assert_eq!(mac[0] & 0x01, 0, "unicast");
        assert_eq!(mac[0] & 0x02, 0x02, "locally administered");
        assert_eq!(mac, bridge_mac("skiff0"));
        assert_ne!(mac, bridge_mac("sktest0"));
    }
}
