//! The VXLAN device, as flannel's `flannel.1`: VNI 1, UDP 8472, the node's address as
//! tunnel source, learning off (peers' MACs come from our FDB entries), the VTEP address
//! (`.0` of the pod CIDR, /32) on it. Its MAC is derived from the node address, so a
//! device recreated after a crash keeps the MAC peers already have in their entries.

use std::net::Ipv4Addr;

use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::{Handle, LinkUnspec, LinkVxlan};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::ops::VxlanSpec;
use crate::network::netlink::{self, errno, link_kind, nl_err};
use crate::network::NetworkError;

/// Creates or repairs the device; returns its MAC.
pub async fn ensure(handle: &Handle, spec: &VxlanSpec) -> Result<[u8; 6], NetworkError> {
    let name = &spec.name;
    let mac = vtep_mac(spec.local);
    if let Some(link) = netlink::link_by_name(handle, name).await? {
        if link_kind(&link) != Some(&InfoKind::Vxlan) {
            return Err(NetworkError::Netlink(format!(
                "{name} exists and is not a vxlan device"
            )));
        }
        if !matches_spec(&link, spec, &mac) {
            warn!(device = %name, "vxlan device differs from the wanted one: recreated");
            handle
                .link()
                .del(link.header.index)
                .execute()
                .await
                .map_err(nl_err(format!("delete {name}")))?;
        }
    }
    let link = match netlink::link_by_name(handle, name).await? {
        Some(link) => link,
        None => {
            let create = LinkVxlan::new(name, spec.vni)
                .port(spec.port)
                .local(spec.local)
                .learning(false)
                .mtu(spec.mtu)
                .address(mac.to_vec())
                .build();
            handle
                .link()
                .add(create)
                .execute()
                .await
                .map_err(nl_err(format!("create vxlan device {name}")))?;
            info!(device = %name, vni = spec.vni, port = spec.port, local = %spec.local, "vxlan device created");
            netlink::link_by_name(handle, name)
                .await?
                .ok_or_else(|| NetworkError::Netlink(format!("{name} vanished")))?
        }
    };
    let index = link.header.index;
    ensure_vtep_address(handle, index, spec).await?;
    if !netlink::link_is_up(&link) || netlink::link_mtu(&link) != Some(spec.mtu) {
        // Bringing it up binds the UDP port: EADDRINUSE here is the port being taken.
        let set = LinkUnspec::new_with_index(index).mtu(spec.mtu).up().build();
        if let Err(e) = handle.link().set(set).execute().await {
            let hint = if errno(&e) == Some(libc::EADDRINUSE) {
                format!(
                    " (UDP port {} is in use by another program or device)",
                    spec.port
                )
            } else {
                String::new()
            };
            // Left down it would only confuse the next start; it is made again then.
            let _ = handle.link().del(index).execute().await;
            return Err(NetworkError::Netlink(format!(
                "bring {name} up: {}{hint}",
                netlink::describe(&e)
            )));
        }
    }
    Ok(mac)
}

fn matches_spec(link: &LinkMessage, spec: &VxlanSpec, mac: &[u8; 6]) -> bool {
    let infos: Vec<&InfoVxlan> = link
        .attributes
        .iter()
        .filter_map(|a| match a {
            LinkAttribute::LinkInfo(infos) => Some(infos),
            _ => None,
        })
        .flatten()
        .filter_map(|i| match i {
            LinkInfo::Data(InfoData::Vxlan(data)) => Some(data),
            _ => None,
        })
        .flatten()
        .collect();
    let has = |want: &InfoVxlan| infos.contains(&want);
    let address_ok = link
        .attributes
        .iter()
        .any(|a| matches!(a, LinkAttribute::Address(m) if m.as_slice() == mac));
    has(&InfoVxlan::Id(spec.vni))
        && has(&InfoVxlan::Port(spec.port))
        && has(&InfoVxlan::Local(spec.local))
        && has(&InfoVxlan::Learning(false))
        && address_ok
}

/// Only the VTEP address, /32, on the device.
async fn ensure_vtep_address(
    handle: &Handle,
    index: u32,
    spec: &VxlanSpec,
) -> Result<(), NetworkError> {
    netlink::ensure_only_ipv4(handle, index, &spec.name, spec.vtep, 32).await?;
    Ok(())
}

/// A stable, locally administered unicast MAC for the node at `local`.
pub fn vtep_mac(local: Ipv4Addr) -> [u8; 6] {
    let digest = Sha256::digest(format!("skiff-vxlan/{local}"));
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}
