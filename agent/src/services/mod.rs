//! Services on a joined node: the control plane's Services and Endpoints, watched
//! (`watch.rs`, resumable), fed to the service proxy, the cluster DNS records and the
//! catalog pods' service environment variables come from (`sync.rs`, `catalog.rs`).

pub mod catalog;
pub mod env_vars;
pub mod sync;
pub mod watch;

#[cfg(test)]
mod catalog_tests;
#[cfg(test)]
mod tests;

use tokio::sync::mpsc;
use tonic::transport::Channel;
use tracing::{info, warn};

use crate::dns::DnsRecords;
use crate::proxy::{Proxier, ProxyConfig};
pub use catalog::ServiceCatalog;
use sync::Syncer;
use watch::Watched;

const DELTA_BUFFER: usize = 256;

/// What the node's service parts need.
#[derive(Debug, Clone)]
pub struct ServicesOptions {
    pub node_name: String,
    pub proxy: ProxyConfig,
}

/// Starts the proxy and the watches that feed it, the cluster DNS `records` (the DNS
/// server itself is started with the pod network, `dns::start_for_node`) and `catalog`.
/// A proxy that cannot start is reported and left out: pods keep running, DNS keeps
/// answering.
pub fn start(
    channel: Channel,
    opts: ServicesOptions,
    records: DnsRecords,
    catalog: ServiceCatalog,
) {
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
    tokio::spawn(
        Syncer::new(proxier, Some(records))
            .with_catalog(catalog)
            .run(services_rx, endpoints_rx),
    );
}
