//! A pod's veth pair, created with one `RTM_NEWLINK` whose peer carries
//! `IFLA_NET_NS_FD`: the pod end is born as `eth0` inside the pod's namespace with the
//! MTU, and the host end is born on the bridge, up. Creating the pair on the host
//! and moving one end afterwards costs a second rtnl round with a namespace change
//! (~18 ms a pod, serialised on the kernel's lock), which this avoids.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth};
use netlink_packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{
    Handle, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use sha2::{Digest, Sha256};

use super::error::NetworkError;
use super::netlink::{
    self, connect_in, describe, errno, link_controller, link_kind, link_name, nl_err,
};
use super::ops::{VethSpec, VethState};

/// Host-side veth names start with this; gc only ever deletes such links.
pub const HOST_PREFIX: &str = "sk";

/// The pod-side interface name.
pub const POD_IFACE: &str = "eth0";

/// `sk` + 11 hex digits of sha256(uid): 13 characters (the kernel allows 15),
/// deterministic so a restarted agent finds the veth of every pod.
pub fn host_veth_name(pod_uid: &str) -> String {
    let hash = hex::encode(Sha256::digest(pod_uid.as_bytes()));
    format!("{HOST_PREFIX}{}", &hash[..11])
}

/// Creates the pair and configures the pod side (address, default route via the
/// gateway). Anything half-made is deleted before an error is returned.
pub async fn create(handle: &Handle, spec: &VethSpec) -> Result<(), NetworkError> {
    let netns = open_netns(spec)?;
    let bridge = netlink::link_by_name(handle, &spec.bridge)
        .await?
        .ok_or_else(|| NetworkError::Netlink(format!("bridge {} not found", spec.bridge)))?;
    // The pod-side socket is made while the kernel creates the pair.
    let (created, pod) = tokio::join!(
        add_pair(handle, spec, &netns, bridge.header.index),
        connect_in(&netns)
    );
    created?;
    let result = async {
        let pod = pod?;
        configure_pod_side(&pod, spec).await?;
        // Hairpin lets a pod reach itself through a service address; the kernel takes
        // bridge-port settings only on an existing port, hence a second message.
        let hairpin = LinkBridgePort::new(0)
            .hairpin(true)
            .name(spec.host.clone())
            .build();
        handle
            .link()
            .set_port(hairpin)
            .execute()
            .await
            .map_err(nl_err(format!("set hairpin on {}", spec.host)))
    }
    .await;
    if let Err(e) = result {
        let _ = delete(handle, &spec.host).await;
        return Err(e);
    }
    Ok(())
}

async fn add_pair(
    handle: &Handle,
    spec: &VethSpec,
    netns: &File,
    bridge: u32,
) -> Result<(), NetworkError> {
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(POD_IFACE)
        .mtu(spec.mtu)
        .setns_by_fd(netns.as_raw_fd())
        .build();
    let pair = LinkVeth::new(&spec.host, POD_IFACE)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .mtu(spec.mtu)
        .controller(bridge)
        .up()
        .build();
    handle.link().add(pair).execute().await.map_err(|e| {
        let hint = if errno(&e) == Some(libc::EEXIST) {
            " (a link of that name exists on the host or in the pod)"
        } else {
            ""
        };
        NetworkError::Netlink(format!(
            "create veth {} into {}: {}{hint}",
            spec.host,
            spec.netns.display(),
            describe(&e)
        ))
    })
}

async fn configure_pod_side(pod: &Handle, spec: &VethSpec) -> Result<(), NetworkError> {
    let eth0 = netlink::link_by_name(pod, POD_IFACE)
        .await?
        .ok_or_else(|| {
            NetworkError::Netlink(format!("{POD_IFACE} missing in {}", spec.netns.display()))
        })?;
    // The kernel cannot bring the peer up inside RTM_NEWLINK (veth_open finds no peer
    // yet: ENOTCONN), so it is brought up here.
    pod.link()
        .set(LinkUnspec::new_with_index(eth0.header.index).up().build())
        .execute()
        .await
        .map_err(nl_err(format!("set {POD_IFACE} up")))?;
    pod.address()
        .add(eth0.header.index, IpAddr::V4(spec.ip), spec.prefix_len)
        .execute()
        .await
        .map_err(nl_err(format!(
            "add {}/{} to {POD_IFACE}",
            spec.ip, spec.prefix_len
        )))?;
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(spec.gateway)
        .output_interface(eth0.header.index)
        .build();
    pod.route()
        .add(route)
        .execute()
        .await
        .map_err(nl_err(format!("add default route via {}", spec.gateway)))
}

/// What exists of the pair, checked end to end so a half set-up pod is redone.
pub async fn inspect(handle: &Handle, spec: &VethSpec) -> Result<VethState, NetworkError> {
    let Some(host) = netlink::link_by_name(handle, &spec.host).await? else {
        return Ok(VethState::Missing);
    };
    let bridge = netlink::link_by_name(handle, &spec.bridge).await?;
    if bridge.map(|b| b.header.index) != link_controller(&host)
        || link_kind(&host) != Some(&InfoKind::Veth)
    {
        return Ok(VethState::Broken(format!(
            "{} is not a veth on {}",
            spec.host, spec.bridge
        )));
    }
    if !netlink::link_is_up(&host) {
        return Ok(VethState::Broken(format!("{} is down", spec.host)));
    }
    let netns = open_netns(spec)?;
    let pod = connect_in(&netns).await?;
    let Some(eth0) = netlink::link_by_name(&pod, POD_IFACE).await? else {
        return Ok(VethState::Broken(format!("no {POD_IFACE} in the pod")));
    };
    let index = eth0.header.index;
    let addrs: Vec<_> = pod
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list pod addresses"))?;
    let has_ip = addrs.iter().any(|m| {
        m.header.prefix_len == spec.prefix_len
            && m.attributes
                .contains(&AddressAttribute::Local(IpAddr::V4(spec.ip)))
    });
    if !has_ip {
        return Ok(VethState::Broken(format!(
            "{POD_IFACE} lacks {}/{}",
            spec.ip, spec.prefix_len
        )));
    }
    let routes: Vec<_> = pod
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list pod routes"))?;
    let has_default = routes.iter().any(|r| {
        r.header.destination_prefix_length == 0
            && r.attributes
                .contains(&RouteAttribute::Gateway(RouteAddress::Inet(spec.gateway)))
            && r.attributes.contains(&RouteAttribute::Oif(index))
    });
    if !has_default {
        return Ok(VethState::Broken(format!(
            "no default route via {}",
            spec.gateway
        )));
    }
    Ok(VethState::Ready)
}

/// Deletes a link by name; `false` if it was not there.
pub async fn delete(handle: &Handle, name: &str) -> Result<bool, NetworkError> {
    let by_name = LinkUnspec::new_with_name(name).build();
    match handle.link().del_with_message(by_name).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(nl_err(format!("delete {name}"))(e)),
    }
}

/// The veths attached to `bridge` (none when the bridge is missing).
pub async fn ports(handle: &Handle, bridge: &str) -> Result<Vec<String>, NetworkError> {
    let Some(bridge) = netlink::link_by_name(handle, bridge).await? else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = netlink::all_links(handle)
        .await?
        .iter()
        .filter(|l| {
            link_controller(l) == Some(bridge.header.index) && link_kind(l) == Some(&InfoKind::Veth)
        })
        .filter_map(|l| link_name(l).map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

fn open_netns(spec: &VethSpec) -> Result<File, NetworkError> {
    File::open(&spec.netns).map_err(|e| NetworkError::Io {
        context: format!("open pod netns {}", spec.netns.display()),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_short_stable_and_prefixed() {
        let name = host_veth_name("0b7c2a4e-1f3d-4c55-9a61-2f0e5d7b8c90");
        assert_eq!(name.len(), 13);
        assert!(name.starts_with(HOST_PREFIX));
        assert!(name[2..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(name, host_veth_name("0b7c2a4e-1f3d-4c55-9a61-2f0e5d7b8c90"));
        assert_ne!(name, host_veth_name("0b7c2a4e-1f3d-4c55-9a61-2f0e5d7b8c91"));
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(host_veth_name("abc"), "skba7816bf8f0");
    }
}
