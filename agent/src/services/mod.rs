//! Services on a joined node: the control plane's Services and Endpoints, watched
//! (`watch.rs`, resumable), fed to the service proxy and the cluster DNS records
//! (`sync.rs`); and the cluster DNS server, on the pod bridge's gateway.

pub mod sync;
pub mod watch;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tracing::{info, warn};

use crate::dns::{upstreams_from_resolv_conf, DnsConfig, DnsRecords, DnsServer};
use crate::proxy::{Proxier, ProxyConfig};
use sync::Syncer;
use watch::Watched;

const DELTA_BUFFER: usize = 256;

/// What the node's service parts need.
#[derive(Debug, Clone)]
pub struct ServicesOptions {
    pub node_name: String,
    pub proxy: ProxyConfig,
    /// Where the cluster DNS listens (the bridge gateway) and what resolv.conf lists the
    /// node's own resolvers (forwarded to for other names).
    pub dns_listen: Ipv4Addr,
    pub resolv_conf: PathBuf,
}

/// The running parts; dropping it stops the DNS server's sockets only when shut down.
pub struct NodeServices {
    pub dns: Option<DnsServer>,
}

/// Starts the proxy, the DNS server and the watches that feed them. A proxy or DNS that
/// cannot start is reported and left out: pods keep running without services.
pub async fn start(channel: Channel, opts: ServicesOptions) -> anyhow::Result<NodeServices> {
    let proxier = match Proxier::new(opts.proxy.clone()) {
        Ok(proxier) => {
            info!(mode = %proxier.mode(), node_ips = ?opts.proxy.node_ips, "service proxy ready");
            Some(proxier)
        }
        Err(error) => {
            warn!(%error, "service proxy not started: services will not be reachable on this node");
            None
        }
    };
    let records = DnsRecords::new();
    let dns = match start_dns(&opts, records.clone()).await {
        Ok(server) => Some(server),
        Err(error) => {
            warn!(error = format!("{error:#}"), "cluster dns not started");
            None
        }
    };
    let (services_tx, services_rx) = mpsc::channel(DELTA_BUFFER);
    let (endpoints_tx, endpoints_rx) = mpsc::channel(DELTA_BUFFER);
    tokio::spawn(watch::run(
        channel.clone(),
        opts.node_name.clone(),
        Watched::Services,
        services_tx,
    ));
    tokio::spawn(watch::run(
        channel,
        opts.node_name.clone(),
        Watched::Endpoints,
        endpoints_tx,
    ));
    tokio::spawn(Syncer::new(proxier, Some(records)).run(services_rx, endpoints_rx));
    Ok(NodeServices { dns })
}

async fn start_dns(opts: &ServicesOptions, records: DnsRecords) -> anyhow::Result<DnsServer> {
    let upstreams = match upstreams_from_resolv_conf(&opts.resolv_conf) {
        Ok(upstreams) => upstreams,
        Err(error) => {
            warn!(%error, "no upstream resolvers: only cluster names will resolve");
            Vec::new()
        }
    };
    let config = DnsConfig {
        listen: vec![SocketAddr::from((opts.dns_listen, 53))],
        upstreams,
        ..DnsConfig::default()
    };
    let server = DnsServer::start(config, records)
        .await
        .context("start the cluster dns")?;
    info!(listen = ?server.local_addrs(), "cluster dns serving");
    Ok(server)
}
