//! rtnetlink connections: one per operation (a socket costs microseconds, and nothing is
//! shared between concurrent pod set-ups), in the host's network namespace or in a pod's.
//!
//! A netlink socket talks to the namespace it was created in, whatever thread uses it
//! later. So the pod-side socket is created on a throwaway thread that `setns()`s into
//! the pod's namespace first and then ends: no pooled runtime thread ever changes
//! namespace. (Netlink's target-netnsid attributes would avoid the thread, but the
//! kernel honours them for link requests and address dumps only, not for adding
//! addresses or routes, and they need an nsid assigned to the pod's namespace first.)

use std::fs::File;
use std::os::fd::{FromRawFd, IntoRawFd};

use futures::TryStreamExt;
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use nix::sched::CloneFlags;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, TokioSocket};
use rtnetlink::Handle;

use super::error::NetworkError;

/// A handle on the host's namespace; the connection task ends when the handle drops.
pub fn connect() -> Result<Handle, NetworkError> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| NetworkError::Netlink(format!("connect: {e}")))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// A handle on the namespace behind `netns` (an open `/proc/<pid>/ns/net` or a bind
/// mount of one).
pub async fn connect_in(netns: &File) -> Result<Handle, NetworkError> {
    let ns = netns
        .try_clone()
        .map_err(|e| NetworkError::Netlink(format!("dup netns fd: {e}")))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("skiff-netns".into())
        .spawn(move || {
            let socket = nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("setns: {e}"))
                .and_then(|()| {
                    Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink socket: {e}"))
                });
            let _ = tx.send(socket.map(|s| s.into_raw_fd()));
        })
        .map_err(|e| NetworkError::Netlink(format!("spawn netns thread: {e}")))?;
    let fd = rx
        .await
        .map_err(|_| NetworkError::Netlink("netns thread died".into()))?
        .map_err(NetworkError::Netlink)?;
    // SAFETY: `fd` is the netlink socket the thread created and gave up ownership of.
    let socket = unsafe { TokioSocket::from_raw_fd(fd) };
    let (conn, handle, _) = rtnetlink::from_socket(socket);
    tokio::spawn(conn);
    Ok(handle)
}

/// The errno of a netlink error reply.
pub fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

pub fn nl_err(context: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetworkError {
    let context = context.into();
    move |e| NetworkError::Netlink(format!("{context}: {}", describe(&e)))
}

/// An rtnetlink error as text: the errno's message for kernel replies.
pub fn describe(e: &rtnetlink::Error) -> String {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.to_io().to_string(),
        other => other.to_string(),
    }
}

/// The link named `name`, or `None`.
pub async fn link_by_name(
    handle: &Handle,
    name: &str,
) -> Result<Option<LinkMessage>, NetworkError> {
    let mut links = handle.link().get().match_name(name).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err(format!("look up link {name}"))(e)),
    }
}

/// Every link of the namespace.
pub async fn all_links(handle: &Handle) -> Result<Vec<LinkMessage>, NetworkError> {
    handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list links"))
}

pub fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

pub fn link_controller(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

pub fn link_mtu(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(m) => Some(*m),
        _ => None,
    })
}

pub fn link_kind(link: &LinkMessage) -> Option<&InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(kind) => Some(kind),
            _ => None,
        }),
        _ => None,
    })
}

pub fn link_is_up(link: &LinkMessage) -> bool {
    link.header.flags.contains(LinkFlags::Up)
}

/// What [`ensure_only_ipv4`] changed.
#[derive(Debug, Default)]
pub struct AddressChange {
    /// Other IPv4 addresses that were on the link, with their prefix lengths.
    pub removed: Vec<(Ipv4Addr, u8)>,
    pub added: bool,
}

/// Makes `ip/prefix_len` the link's only IPv4 address (the bridge's gateway, the VXLAN
/// device's VTEP address): stale IPv4 addresses go, other families are left alone.
pub async fn ensure_only_ipv4(
    handle: &Handle,
    index: u32,
    name: &str,
    ip: Ipv4Addr,
    prefix_len: u8,
) -> Result<AddressChange, NetworkError> {
    let addrs: Vec<AddressMessage> = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(nl_err(format!("list addresses of {name}")))?;
    let mut change = AddressChange::default();
    let mut present = false;
    for msg in addrs {
        let Some(have) = address_ipv4(&msg) else {
            continue;
        };
        if have == ip && msg.header.prefix_len == prefix_len {
            present = true;
            continue;
        }
        let have_len = msg.header.prefix_len;
        handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(nl_err(format!("remove {have} from {name}")))?;
        change.removed.push((have, have_len));
    }
    if !present {
        match handle
            .address()
            .add(index, IpAddr::V4(ip), prefix_len)
            .execute()
            .await
        {
            Ok(()) => change.added = true,
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(nl_err(format!("add {ip} to {name}"))(e)),
        }
    }
    Ok(change)
}

/// An address message's IPv4 address (`IFA_LOCAL`, else `IFA_ADDRESS`).
pub fn address_ipv4(msg: &AddressMessage) -> Option<Ipv4Addr> {
    let find = |local: bool| {
        msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(ip)) if local => Some(*ip),
            AddressAttribute::Address(IpAddr::V4(ip)) if !local => Some(*ip),
            _ => None,
        })
    };
    find(true).or_else(|| find(false))
}
