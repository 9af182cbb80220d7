//! One channel to the control plane that fails over between its servers.
//!
//! Every task of a joined node (pod watch, service watches, status, heartbeats, ...)
//! shares one tonic [`Channel`] and retries its own calls, resuming its watch from the
//! last resourceVersion. That channel is a balance channel holding exactly one server at
//! a time; the [`Supervisor`] probes that server (a Heartbeat, with a timeout) and, when
//! it stops answering (refused, reset, timed out, 503/UNAVAILABLE) twice in a row, puts
//! the next live server of the [`ServerList`] in its place. The tasks' next calls land
//! there and their watches resume; pod workers never see the change. The list is
//! `--server` first, then the servers the `kubernetes` Endpoints name ([`learn`]).
//!
//! Every server's certificate is signed by the cluster CA the node already pins, so the
//! same TLS settings verify any of them (their certificates carry their own addresses).

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Endpoints;
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::HeartbeatRequest;
use tokio::sync::{mpsc, watch};
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};
use tracing::{info, warn};

use super::bootstrap::Credentials;
use super::servers::{urls_from_endpoints, ServerList, ServersFile, API_ENDPOINTS};
use crate::services::watch::{self as resumable, Delta, Watched};

/// How often the current server is checked, and how fast a failed check is repeated.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub interval: Duration,
    pub retry: Duration,
    /// Failed checks in a row before moving to another server.
    pub failures: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            interval: Duration::from_secs(3),
            retry: Duration::from_secs(1),
            failures: 2,
        }
    }
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Asks one server whether it serves this node.
pub trait Prober: Send + Sync + 'static {
    /// `Err` (with the reason) when the server at `url` does not answer.
    fn probe(&self, url: &str) -> impl Future<Output = Result<(), String>> + Send;
}

/// Keeps `current` on a live server of `servers`.
pub struct Supervisor<P> {
    prober: P,
    servers: watch::Receiver<Vec<String>>,
    current: watch::Sender<String>,
    timing: Timing,
    failed: u32,
}

impl<P: Prober> Supervisor<P> {
    /// Starts on the first server of the list.
    pub fn new(prober: P, servers: watch::Receiver<Vec<String>>, timing: Timing) -> Self {
        let first = servers.borrow().first().cloned().unwrap_or_default();
        Supervisor {
            prober,
            servers,
            current: watch::Sender::new(first),
            timing,
            failed: 0,
        }
    }

    /// The server in use, as it changes.
    pub fn current(&self) -> watch::Receiver<String> {
        self.current.subscribe()
    }

    /// Checks until nobody follows the current server any more.
    pub async fn run(mut self) {
        while !self.current.is_closed() {
            let wait = self.step().await;
            tokio::time::sleep(wait).await;
        }
    }

    /// One check of the current server; on its last allowed failure, a move to the next
    /// server (in list order, wrapping) that answers. Returns the wait before the next.
    pub async fn step(&mut self) -> Duration {
        let current = self.current.borrow().clone();
        match self.prober.probe(&current).await {
            Ok(()) => {
                self.failed = 0;
                return self.timing.interval;
            }
            Err(reason) => {
                self.failed += 1;
                warn!(server = %current, failed = self.failed, %reason, "control-plane server does not answer");
                if self.failed < self.timing.failures {
                    return self.timing.retry;
                }
            }
        }
        let candidates = after(&self.servers.borrow(), &current);
        for url in candidates {
            match self.prober.probe(&url).await {
                Ok(()) => {
                    info!(from = %current, to = %url, "failing over to another control-plane server");
                    self.current.send_replace(url);
                    self.failed = 0;
                    return self.timing.interval;
                }
                Err(reason) => {
                    warn!(server = %url, %reason, "control-plane server does not answer")
                }
            }
        }
        warn!(server = %current, "no other control-plane server answers; staying");
        self.timing.retry
    }
}

/// The servers to try after `current`: those following it in `list`, then those before.
fn after(list: &[String], current: &str) -> Vec<String> {
    let start = list.iter().position(|u| u == current).map_or(0, |i| i + 1);
    list[start..]
        .iter()
        .chain(&list[..start])
        .filter(|u| *u != current)
        .cloned()
        .collect()
}

/// The shared server list: what [`learn`] updates and the [`Supervisor`] reads.
#[derive(Clone)]
pub struct Servers {
    list: Arc<Mutex<ServerList>>,
    file: Arc<ServersFile>,
    urls: watch::Sender<Vec<String>>,
}

impl Servers {
    /// `--server` plus the servers saved under `root` by an earlier run.
    pub fn load(root: &Path, configured: &str) -> Servers {
        let file = ServersFile::new(root);
        let list = ServerList::new(configured, file.load());
        let urls = watch::Sender::new(list.urls());
        Servers {
            list: Arc::new(Mutex::new(list)),
            file: Arc::new(file),
            urls,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Vec<String>> {
        self.urls.subscribe()
    }

    /// Takes the servers the cluster lists now, and saves them when they changed.
    pub fn learn(&self, urls: Vec<String>) {
        let mut list = self.list.lock().expect("server list lock");
        if !list.learn(urls) {
            return;
        }
        if let Err(error) = self.file.save(list.learned()) {
            warn!(%error, "cannot save the server list");
        }
        info!(servers = ?list.urls(), "control-plane servers");
        self.urls.send_replace(list.urls());
    }
}

/// Follows the `kubernetes` Endpoints (resumable, through `channel` itself) into `servers`.
pub async fn learn(channel: Channel, node_name: String, servers: Servers) {
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(resumable::run::<Endpoints>(
        channel,
        node_name,
        Watched::Endpoints,
        tx,
    ));
    let key = (API_ENDPOINTS.0.to_string(), API_ENDPOINTS.1.to_string());
    while let Some(delta) = rx.recv().await {
        let endpoints = match delta {
            Delta::Resync(all) => all.get(&key).cloned(),
            Delta::Upsert(k, endpoints) if k == key => Some(endpoints),
            _ => None,
        };
        if let Some(endpoints) = endpoints {
            servers.learn(urls_from_endpoints(&endpoints));
        }
    }
}

/// Puts the supervisor's current server into the balance channel, the new one before the
/// old one leaves so that calls always have somewhere to go.
pub async fn route(
    mut current: watch::Receiver<String>,
    endpoint: impl Fn(&str) -> anyhow::Result<Endpoint>,
    changes: mpsc::Sender<Change<String, Endpoint>>,
) {
    let mut routed: Option<String> = None;
    loop {
        let url = current.borrow_and_update().clone();
        if routed.as_ref() != Some(&url) {
            match endpoint(&url) {
                Ok(ep) => {
                    if changes.send(Change::Insert(url.clone(), ep)).await.is_err() {
                        return;
                    }
                    if let Some(old) = routed.replace(url) {
                        let _ = changes.send(Change::Remove(old)).await;
                    }
                }
                Err(error) => warn!(server = %url, %error, "unusable server URL"),
            }
        }
        if current.changed().await.is_err() {
            return;
        }
    }
}

/// A node's endpoint for `url`: the pinned CA, the node certificate, HTTP/2 keepalives so
/// that a server gone silent (not just gone) breaks the streams too.
pub fn node_endpoint(url: &str, creds: &Credentials) -> anyhow::Result<Endpoint> {
    Ok(
        skiff_proto::auth::endpoint(url, &creds.ca_pem, Some((&creds.cert_pem, &creds.key_pem)))?
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true),
    )
}

/// Probes with a Heartbeat over a channel of its own per server (a lease renewal the
/// node wants anyway), so a check never waits behind the shared channel's calls.
pub struct HeartbeatProber {
    node_name: String,
    creds: Credentials,
    channels: Mutex<Vec<(String, Channel)>>,
}

impl HeartbeatProber {
    pub fn new(node_name: &str, creds: Credentials) -> Self {
        HeartbeatProber {
            node_name: node_name.to_string(),
            creds,
            channels: Mutex::new(Vec::new()),
        }
    }

    fn channel(&self, url: &str) -> Result<Channel, String> {
        let mut channels = self.channels.lock().expect("prober lock");
        if let Some((_, ch)) = channels.iter().find(|(u, _)| u == url) {
            return Ok(ch.clone());
        }
        let ch = node_endpoint(url, &self.creds)
            .map_err(|e| e.to_string())?
            .connect_lazy();
        channels.push((url.to_string(), ch.clone()));
        Ok(ch)
    }
}

impl Prober for HeartbeatProber {
    fn probe(&self, url: &str) -> impl Future<Output = Result<(), String>> + Send {
        let channel = self.channel(url);
        let node_name = self.node_name.clone();
        async move {
            let mut client = NodeClient::new(channel?);
            let call = client.heartbeat(HeartbeatRequest { node_name });
            match tokio::time::timeout(PROBE_TIMEOUT, call).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
                Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
            }
        }
    }
}

/// The failing-over channel for a node holding `creds`, and the server list to feed
/// with [`learn`]. Spawns the supervisor and the router.
pub fn connect(
    root: &Path,
    server: &str,
    node_name: &str,
    creds: &Credentials,
) -> (Channel, Servers) {
    let servers = Servers::load(root, server);
    let supervisor = Supervisor::new(
        HeartbeatProber::new(node_name, creds.clone()),
        servers.subscribe(),
        Timing::default(),
    );
    let (channel, changes) = Channel::balance_channel(4);
    let creds = creds.clone();
    tokio::spawn(route(
        supervisor.current(),
        move |url| node_endpoint(url, &creds),
        changes,
    ));
    tokio::spawn(supervisor.run());
    (channel, servers)
}

#[cfg(test)]
#[path = "failover_tests.rs"]
mod tests;
