//! A node that joins a control plane (`--server`, `--token`): registration, the server's
//! pods as a source merged with the static ones, status reports, the kubelet's events
//! about pods (`events.rs`) and heartbeats.
//!
//! The Agent API is served on the node IP over TLS for the control plane, besides the
//! unix socket (logs and exec for the control plane). Static pods show up on the server as
//! mirror pods (`mirror.rs`).

pub mod bootstrap;
pub mod events;
pub mod failover;
pub mod heartbeat;
pub mod mirror;
pub mod pod_network;
pub mod serve;
pub mod servers;
pub mod source;
pub mod status;
pub mod volumes;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::HeartbeatRequest;
use tokio::sync::{oneshot, watch};
use tonic::transport::Channel;
use tracing::{info, warn};

use crate::pods::StatusStore;
use crate::sources::DesiredPods;
use bootstrap::{Credentials, JoinFiles};

/// How to reach the control plane.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    pub server: String,
    pub token: String,
}

/// A registered node: its credentials and a channel authenticated with them, which
/// fails over between the control-plane servers (`failover.rs`).
pub struct Joined {
    pub creds: Credentials,
    pub channel: Channel,
    pub servers: failover::Servers,
}

/// Registers on first start; later starts reuse the saved certificate unless the server
/// refuses it (expired, revoked, another cluster), then register again.
pub async fn join(
    opts: &JoinOptions,
    root: &Path,
    node_name: &str,
    node_ip: Option<IpAddr>,
) -> anyhow::Result<Joined> {
    let files = JoinFiles::new(root);
    if let Some(creds) = files.load() {
        let channel = channel(&opts.server, &creds)?;
        let probe = NodeClient::new(channel.clone())
            .heartbeat(HeartbeatRequest {
                node_name: node_name.to_string(),
            })
            .await;
        match probe {
            Ok(_) => {
                info!(node = node_name, "reusing the saved node certificate");
                return Ok(joined(root, &opts.server, node_name, creds));
            }
            Err(status) if refused(&status) => {
                warn!(code = ?status.code(), message = status.message(), "saved certificate refused: registering again");
                files.clear();
            }
            Err(status) => {
                // The server is down: the saved certificate is still our best bet.
                warn!(code = ?status.code(), message = status.message(), "control plane unreachable; using the saved certificate");
                return Ok(joined(root, &opts.server, node_name, creds));
            }
        }
    }
    let creds = bootstrap::register(&opts.server, &opts.token, node_name, node_ip).await?;
    files.save(&creds).context("save the node credentials")?;
    Ok(joined(root, &opts.server, node_name, creds))
}

fn joined(root: &Path, server: &str, node_name: &str, creds: Credentials) -> Joined {
    let (channel, servers) = failover::connect(root, server, node_name, &creds);
    Joined {
        creds,
        channel,
        servers,
    }
}

fn refused(status: &tonic::Status) -> bool {
    use tonic::Code::*;
    matches!(status.code(), Unauthenticated | PermissionDenied | NotFound)
        || status.message().contains("certificate")
}

/// A channel to `server` alone, for the check of the saved certificate.
fn channel(server: &str, creds: &Credentials) -> anyhow::Result<Channel> {
    Ok(skiff_proto::auth::endpoint(
        server,
        &creds.ca_pem,
        Some((&creds.cert_pem, &creds.key_pem)),
    )?
    .connect_lazy())
}

/// Starts the server's pod watch, the merge with the static pods, the status reporter and
/// the heartbeat. The returned receiver fires once the server's pods are known: the pod
/// manager must not start before, or it would take the server's running pods for orphans.
pub fn spawn(
    joined: &Joined,
    node_name: &str,
    statics: watch::Receiver<DesiredPods>,
    desired: watch::Sender<DesiredPods>,
    store: StatusStore,
    events: tokio::sync::mpsc::Receiver<crate::pods::events::PodEvent>,
) -> oneshot::Receiver<()> {
    let (server_tx, server_rx) = watch::channel(None);
    let (uids_tx, uids_rx) = watch::channel(BTreeSet::new());
    let (synced_tx, synced_rx) = oneshot::channel();
    tokio::spawn(source::run(
        joined.channel.clone(),
        node_name.to_string(),
        server_tx,
    ));
    tokio::spawn(mirror::run(
        joined.channel.clone(),
        node_name.to_string(),
        statics.clone(),
        store.clone(),
    ));
    tokio::spawn(merge_loop(statics, server_rx, desired, uids_tx, synced_tx));
    tokio::spawn(events::run(
        joined.channel.clone(),
        node_name.to_string(),
        events,
        uids_rx.clone(),
    ));
    tokio::spawn(status::run(joined.channel.clone(), store, uids_rx));
    tokio::spawn(heartbeat::run(
        joined.channel.clone(),
        node_name.to_string(),
    ));
    tokio::spawn(failover::learn(
        joined.channel.clone(),
        node_name.to_string(),
        joined.servers.clone(),
    ));
    synced_rx
}

async fn merge_loop(
    mut statics: watch::Receiver<DesiredPods>,
    mut server: watch::Receiver<Option<DesiredPods>>,
    desired: watch::Sender<DesiredPods>,
    uids: watch::Sender<BTreeSet<String>>,
    synced: oneshot::Sender<()>,
) {
    let mut synced = Some(synced);
    // Without --manifests nobody sends static pods; the server's still come.
    let mut statics_open = true;
    loop {
        // Borrowed, not cloned: a copy would stay alive across the wait below.
        let merged = server.borrow_and_update().as_ref().map(|server_pods| {
            uids.send_replace(server_pods.pods.keys().cloned().collect());
            (
                source::merge(&statics.borrow_and_update(), server_pods),
                server_pods.pods.len(),
            )
        });
        if let Some((merged, count)) = merged {
            desired.send_replace(merged);
            if let Some(tx) = synced.take() {
                info!(pods = count, "server pods synced");
                let _ = tx.send(());
            }
        }
        tokio::select! {
            res = statics.changed(), if statics_open => statics_open = res.is_ok(),
            res = server.changed() => if res.is_err() { return },
        }
    }
}
