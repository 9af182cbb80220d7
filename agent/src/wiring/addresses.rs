//! The node's address when `--node-ip` is not given. A joined node takes the source
//! address of its route to the control plane (`ip route get SERVER`): that is the
//! network the peers share. The default route is wrong on Vagrant, where every VM's
//! default route leaves through the same NAT address (10.0.2.15).

use std::net::{IpAddr, Ipv4Addr};

use tracing::{info, warn};

use crate::network::podnet::source_address_towards;

/// `flag` when set; joined, the source address towards `server`; otherwise (or when that
/// is a loopback address: the control plane on this host) the default route's.
pub async fn node_ip(flag: Option<IpAddr>, server: Option<&str>) -> Option<IpAddr> {
    if flag.is_some() {
        return flag;
    }
    if let Some(server) = server {
        match towards_server(server).await {
            Some(ip) if !ip.is_loopback() => {
                info!(node_ip = %ip, server, "node address from the route to the control plane");
                return Some(IpAddr::V4(ip));
            }
            Some(_) => {}
            None => warn!(
                server,
                "no route to the control plane: node address from the default route"
            ),
        }
    }
    crate::network::node_ip()
}

async fn towards_server(server: &str) -> Option<Ipv4Addr> {
    let target = host_port(server)?;
    let addr = tokio::net::lookup_host(target)
        .await
        .ok()?
        .find_map(|a| match a.ip() {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })?;
    source_address_towards(addr).await.ok().flatten()
}

/// `https://host:6443/path` → `host:6443` (443 without a port).
pub fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    Some(if has_port {
        authority.to_string()
    } else {
        format!("{authority}:443")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_become_host_and_port() {
        assert_eq!(
            host_port("https://10.0.0.1:6443").as_deref(),
            Some("10.0.0.1:6443")
        );
        assert_eq!(
            host_port("https://cp.local:6443/").as_deref(),
            Some("cp.local:6443")
        );
        assert_eq!(
            host_port("https://cp.local").as_deref(),
            Some("cp.local:443")
        );
        assert_eq!(host_port("https://").as_deref(), None);
    }

    #[tokio::test]
    async fn the_flag_wins_and_loopback_servers_fall_back() {
        let flag: IpAddr = "192.168.56.10".parse().unwrap();
        assert_eq!(
            node_ip(Some(flag), Some("https://127.0.0.1:6443")).await,
            Some(flag)
        );
        // The control plane on this host: never 127.0.0.1 as the node's address.
        let ip = node_ip(None, Some("https://127.0.0.1:6443")).await;
        assert!(ip.is_none_or(|ip| !ip.is_loopback()), "{ip:?}");
    }

    #[tokio::test]
    async fn the_route_source_is_an_address_of_this_host() {
        // 127.0.0.2 routes through lo with source 127.0.0.1: what `ip route get` says.
        let src = source_address_towards("127.0.0.2".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(src, Some(Ipv4Addr::LOCALHOST));
    }
}
