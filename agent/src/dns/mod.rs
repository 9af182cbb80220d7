//! Cluster DNS served by the agent (docs/architecture.md, Agent): every node answers its own pods on
//! the pod bridge's gateway address, so lookups never leave the node.
//!
//! - `records.rs`: [`DnsRecords`], the services and endpoints the answers come from.
//! - `zone.rs`: the Kubernetes DNS spec (service, headless, SRV, ExternalName, pod names);
//!   `reverse.rs`: PTR for service and endpoint addresses.
//! - `handler.rs`: one query to one response; ExternalName chasing; truncation.
//! - `forward.rs`: other names relayed to the node's resolvers (UDP, TCP on truncation).
//! - `server.rs`: [`DnsServer`], the UDP and TCP sockets.
//! - `resolv.rs`: the node's resolvers, from its resolv.conf.
//!
//! hickory-proto gives the wire format; the serving is ours, so forwarded answers are
//! relayed verbatim and the zone is a live table rather than a zone file.

mod forward;
mod handler;
mod records;
mod resolv;
mod reverse;
mod server;
mod zone;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::network::ClusterDns;

pub use records::DnsRecords;
pub use resolv::upstreams_from_resolv_conf;
pub use server::DnsServer;

/// The cluster domain pods search, as in Kubernetes.
pub const DEFAULT_DOMAIN: &str = "cluster.local";

/// TTL of the cluster records. Kubernetes' CoreDNS uses 30 s; the server here is on the
/// pod's own node, so a query costs next to nothing, and a short TTL lets caching clients
/// (JVMs, nscd) follow restarted headless endpoints within seconds.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

/// How long one upstream gets (per transport) before the next is tried: short enough
/// that a SERVFAIL comes back before the client's own 5 s timeout.
pub const DEFAULT_FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// UDP and TCP are served on each (the bridge gateway, `10.42.0.1:53`, on a node).
    pub listen: Vec<SocketAddr>,
    /// The cluster domain, `cluster.local`.
    pub domain: String,
    /// Where other names go, in order (the node's resolvers).
    pub upstreams: Vec<SocketAddr>,
    pub forward_timeout: Duration,
    pub ttl: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: Vec::new(),
            domain: DEFAULT_DOMAIN.to_string(),
            upstreams: Vec::new(),
            forward_timeout: DEFAULT_FORWARD_TIMEOUT,
            ttl: DEFAULT_TTL,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cluster dns cannot listen on {addr} ({proto}): {source}")]
    Bind {
        addr: SocketAddr,
        proto: &'static str,
        source: std::io::Error,
    },
    #[error("cluster dns has no listen address")]
    NoListenAddress,
    #[error("cluster domain {domain:?}: {reason}")]
    InvalidDomain { domain: String, reason: String },
    #[error("read {}: {source}", path.display())]
    ResolvConf {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where pods look names up: port 53 is all a resolv.conf can name.
pub const DNS_PORT: u16 = 53;

/// The node's cluster DNS, served on the pod bridge's gateway address: every pod of the
/// node reaches it (pods cannot reach the node's loopback), and it is never exposed
/// beyond the node. Other names go to the resolvers in `resolv_conf` (the node's
/// `/etc/resolv.conf`). Returns the server, to keep alive, and what ClusterFirst pods'
/// resolv.conf names.
pub async fn start_for_node(
    gateway: Ipv4Addr,
    domain: &str,
    resolv_conf: &Path,
    records: DnsRecords,
) -> Result<(DnsServer, ClusterDns), DnsError> {
    let config = DnsConfig {
        listen: vec![SocketAddr::new(IpAddr::V4(gateway), DNS_PORT)],
        domain: domain.trim_end_matches('.').to_string(),
        upstreams: upstreams_from_resolv_conf(resolv_conf)?,
        ..DnsConfig::default()
    };
    let server = DnsServer::start(config.clone(), records).await?;
    let cluster = ClusterDns {
        nameserver: IpAddr::V4(gateway),
        domain: config.domain,
    };
    Ok((server, cluster))
}

#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;
