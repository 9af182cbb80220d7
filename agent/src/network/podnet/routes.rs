//! Routes to peers' pod CIDRs in the main table, marked with skiff's protocol number;
//! the networks this node reaches directly; and the source address the kernel would use
//! towards an address (`ip route get`), which is how the agent picks its node IP.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol,
};
use rtnetlink::{Handle, RouteMessageBuilder};

use super::desired::RouteEntry;
use super::ROUTE_PROTOCOL;
use crate::network::netlink::{self, errno, link_name, nl_err};
use crate::network::NetworkError;

fn names(links: &[netlink_packet_route::link::LinkMessage]) -> HashMap<u32, String> {
    links
        .iter()
        .filter_map(|l| link_name(l).map(|n| (l.header.index, n.to_string())))
        .collect()
}

/// The main table's routes with [`ROUTE_PROTOCOL`]. A route marked onlink is a tunnel
/// route and names its device.
pub async fn list(handle: &Handle) -> Result<Vec<RouteEntry>, NetworkError> {
    let names = names(&netlink::all_links(handle).await?);
    let routes: Vec<RouteMessage> = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list routes"))?;
    let mut found = Vec::new();
    for route in routes {
        if u8::from(route.header.protocol) != ROUTE_PROTOCOL || table_of(&route) != main_table() {
            continue;
        }
        let (mut dst, mut via, mut oif) = (None, None, None);
        for attr in &route.attributes {
            match attr {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = Some(*ip),
                RouteAttribute::Gateway(RouteAddress::Inet(ip)) => via = Some(*ip),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        let (Some(dst), Some(via)) = (dst, via) else {
            continue;
        };
        let Ok(dst) = Ipv4Net::new(dst, route.header.destination_prefix_length) else {
            continue;
        };
        let dev = route
            .header
            .flags
            .contains(RouteFlags::Onlink)
            .then(|| oif.and_then(|i| names.get(&i).cloned()))
            .flatten();
        found.push(RouteEntry { dst, via, dev });
    }
    Ok(found)
}

fn main_table() -> u32 {
    u32::from(RouteHeader::RT_TABLE_MAIN)
}

fn table_of(route: &RouteMessage) -> u32 {
    route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table))
}

async fn message(handle: &Handle, route: &RouteEntry) -> Result<RouteMessage, NetworkError> {
    let mut builder = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(route.dst.network(), route.dst.prefix_len())
        .gateway(route.via)
        .protocol(RouteProtocol::from(ROUTE_PROTOCOL));
    if let Some(dev) = &route.dev {
        let link = netlink::link_by_name(handle, dev)
            .await?
            .ok_or_else(|| NetworkError::Netlink(format!("no device {dev}")))?;
        builder = builder.output_interface(link.header.index).onlink();
    }
    Ok(builder.build())
}

/// Adds the route; one that exists already to the same prefix (ours with another next
/// hop was removed before; anyone else's is left alone) is an error.
pub async fn add(handle: &Handle, route: &RouteEntry) -> Result<(), NetworkError> {
    let msg = message(handle, route).await?;
    handle.route().add(msg).execute().await.map_err(|e| {
        let why = if errno(&e) == Some(libc::EEXIST) {
            " (another route to this prefix exists; skiff does not replace routes it did not make)"
                .to_string()
        } else {
            String::new()
        };
        NetworkError::Netlink(format!(
            "add route {} via {}: {}{why}",
            route.dst,
            route.via,
            netlink::describe(&e)
        ))
    })
}

/// Deletes the route (ours: the protocol is part of the match); a missing one is fine.
pub async fn del(handle: &Handle, route: &RouteEntry) -> Result<(), NetworkError> {
    let msg = match message(handle, route).await {
        Ok(msg) => msg,
        // The device went and took its routes with it.
        Err(_) if route.dev.is_some() => return Ok(()),
        Err(e) => return Err(e),
    };
    match handle.route().del(msg).execute().await {
        Ok(()) => Ok(()),
        Err(e) if matches!(errno(&e), Some(libc::ESRCH | libc::ENOENT)) => Ok(()),
        Err(e) => Err(nl_err(format!(
            "delete route {} via {}",
            route.dst, route.via
        ))(e)),
    }
}

/// The networks of the IPv4 addresses on every interface but those in `except`.
pub async fn connected(handle: &Handle, except: &[&str]) -> Result<Vec<Ipv4Net>, NetworkError> {
    let names = names(&netlink::all_links(handle).await?);
    let addrs: Vec<AddressMessage> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list addresses"))?;
    let mut nets = Vec::new();
    for msg in &addrs {
        let name = names.get(&msg.header.index).map(String::as_str);
        if name.is_some_and(|n| except.contains(&n)) {
            continue;
        }
        let ip = msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        });
        if let Some(ip) = ip.filter(|ip| !ip.is_loopback()) {
            // A /32 (a point-to-point address) reaches no peer directly.
            if let Ok(net) = Ipv4Net::new(ip, msg.header.prefix_len) {
                if net.prefix_len() < 32 {
                    nets.push(net.trunc());
                }
            }
        }
    }
    Ok(nets)
}

/// The source address of the route to `dst` (`ip route get DST`): the address the peers
/// and the control plane see this node by.
pub async fn source_address_towards(dst: Ipv4Addr) -> Result<Option<Ipv4Addr>, NetworkError> {
    let handle = netlink::connect()?;
    let msg = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dst, 32)
        .build();
    let mut replies = handle.route().get(msg).execute();
    let reply = replies
        .try_next()
        .await
        .map_err(nl_err(format!("route to {dst}")))?;
    Ok(reply.and_then(|route| {
        route.attributes.iter().find_map(|a| match a {
            RouteAttribute::PrefSource(RouteAddress::Inet(ip)) => Some(*ip),
            _ => None,
        })
    }))
}
