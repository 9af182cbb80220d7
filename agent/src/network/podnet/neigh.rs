//! Neighbour and FDB entries on the VXLAN device, as flannel's vxlan backend keeps them:
//! a permanent ARP entry per peer (its VTEP address → its VtepMAC) and an FDB entry per
//! peer (its VtepMAC → its node address). Everything on the device is skiff's.

use futures::TryStreamExt;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::Handle;

use super::desired::{FdbEntry, NeighEntry};
use crate::network::netlink::{self, errno, nl_err};
use crate::network::NetworkError;

async fn index_of(handle: &Handle, dev: &str) -> Result<u32, NetworkError> {
    netlink::link_by_name(handle, dev)
        .await?
        .map(|l| l.header.index)
        .ok_or_else(|| NetworkError::Netlink(format!("no device {dev}")))
}

async fn dump(
    handle: &Handle,
    family: AddressFamily,
    index: u32,
) -> Result<Vec<NeighbourMessage>, NetworkError> {
    let all: Vec<NeighbourMessage> = handle
        .neighbours()
        .get()
        .set_address_family(family)
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list neighbours"))?;
    Ok(all
        .into_iter()
        .filter(|n| n.header.ifindex == index)
        .collect())
}

fn mac_of(msg: &NeighbourMessage) -> Option<[u8; 6]> {
    msg.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(mac) => <[u8; 6]>::try_from(mac.as_slice()).ok(),
        _ => None,
    })
}

/// The entry's IPv4 destination. FDB entries are AF_BRIDGE messages, whose NDA_DST the
/// parser leaves as raw bytes.
fn ipv4_of(msg: &NeighbourMessage) -> Option<std::net::Ipv4Addr> {
    msg.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
        NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => {
            <[u8; 4]>::try_from(bytes.as_slice()).ok().map(Into::into)
        }
        _ => None,
    })
}

pub async fn neighs(handle: &Handle, dev: &str) -> Result<Vec<NeighEntry>, NetworkError> {
    let Some(link) = netlink::link_by_name(handle, dev).await? else {
        return Ok(Vec::new());
    };
    Ok(dump(handle, AddressFamily::Inet, link.header.index)
        .await?
        .iter()
        .filter(|n| n.header.state == NeighbourState::Permanent)
        .filter_map(|n| {
            Some(NeighEntry {
                ip: ipv4_of(n)?,
                mac: mac_of(n)?,
            })
        })
        .collect())
}

pub async fn set_neigh(handle: &Handle, dev: &str, e: &NeighEntry) -> Result<(), NetworkError> {
    let index = index_of(handle, dev).await?;
    handle
        .neighbours()
        .add(index, e.ip.into())
        .link_layer_address(&e.mac)
        .state(NeighbourState::Permanent)
        .replace()
        .execute()
        .await
        .map_err(nl_err(format!("neighbour {} on {dev}", e.ip)))
}

pub async fn del_neigh(handle: &Handle, dev: &str, e: &NeighEntry) -> Result<(), NetworkError> {
    let Ok(index) = index_of(handle, dev).await else {
        return Ok(());
    };
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.ifindex = index;
    msg.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            e.ip,
        )));
    ignore_missing(handle.neighbours().del(msg).execute().await)
        .map_err(nl_err(format!("delete neighbour {} on {dev}", e.ip)))
}

pub async fn fdbs(handle: &Handle, dev: &str) -> Result<Vec<FdbEntry>, NetworkError> {
    let Some(link) = netlink::link_by_name(handle, dev).await? else {
        return Ok(Vec::new());
    };
    Ok(dump(handle, AddressFamily::Bridge, link.header.index)
        .await?
        .iter()
        .filter_map(|n| {
            Some(FdbEntry {
                mac: mac_of(n)?,
                dst: ipv4_of(n)?,
            })
        })
        .collect())
}

pub async fn set_fdb(handle: &Handle, dev: &str, e: &FdbEntry) -> Result<(), NetworkError> {
    let index = index_of(handle, dev).await?;
    handle
        .neighbours()
        .add_bridge(index, &e.mac)
        .destination(e.dst.into())
        .flags(NeighbourFlags::Own)
        .state(NeighbourState::Permanent)
        .replace()
        .execute()
        .await
        .map_err(nl_err(format!("fdb entry for {} on {dev}", e.dst)))
}

pub async fn del_fdb(handle: &Handle, dev: &str, e: &FdbEntry) -> Result<(), NetworkError> {
    let Ok(index) = index_of(handle, dev).await else {
        return Ok(());
    };
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Bridge;
    msg.header.ifindex = index;
    msg.header.flags = NeighbourFlags::Own;
    msg.attributes
        .push(NeighbourAttribute::LinkLayerAddress(e.mac.to_vec()));
    msg.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            e.dst,
        )));
    ignore_missing(handle.neighbours().del(msg).execute().await)
        .map_err(nl_err(format!("delete fdb entry for {} on {dev}", e.dst)))
}

fn ignore_missing(res: Result<(), rtnetlink::Error>) -> Result<(), rtnetlink::Error> {
    match res {
        Err(e) if matches!(errno(&e), Some(libc::ENOENT | libc::ENODEV)) => Ok(()),
        other => other,
    }
}
