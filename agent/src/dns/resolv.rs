//! The node's resolvers, read from its resolv.conf. Loopback resolvers (systemd-resolved's
//! 127.0.0.53, a local dnsmasq) are kept: pods could not reach them from their own
//! network namespace, but the agent forwards from the node's, where they answer.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use tracing::warn;

use super::DnsError;

/// `nameserver` lines of `path`, on port 53, in order. A missing file gives none.
pub fn upstreams_from_resolv_conf(path: &Path) -> Result<Vec<SocketAddr>, DnsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(DnsError::ResolvConf {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    Ok(parse(&text))
}

pub(crate) fn parse(text: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        // A scoped link-local address (fe80::1%eth0) needs the interface index; rare on
        // servers, and the node's other resolvers still serve.
        match addr.parse::<IpAddr>() {
            Ok(ip) => {
                let sock = SocketAddr::new(ip, 53);
                if !out.contains(&sock) {
                    out.push(sock);
                }
            }
            Err(_) => warn!(nameserver = %addr, "resolv.conf nameserver skipped"),
        }
    }
    out
}
