//! Keeps this node's mirror pods on the control plane (`Node.SyncMirrorPods`): the whole
//! static set with each pod's current status, sent when it changes (debounced) and every
//! [`RESYNC`] anyway, so a mirror deleted through the API comes back, as the kubelet
//! does it. A failed send is retried with backoff; the set is level-triggered, so nothing
//! is lost by a reconnect.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::SyncMirrorPodsRequest;
use tokio::sync::watch;
use tonic::transport::Channel;
use tracing::{debug, warn};

use super::status::envelope;
use crate::pods::StatusStore;
use crate::sources::DesiredPods;

/// The annotation of mirror pods (value: the static pod's uid).
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// How often the set is sent even when nothing changed here.
pub const RESYNC: Duration = Duration::from_secs(5);
const DEBOUNCE: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// The static pods as they run: the manifest's pod with the status the workers report.
pub fn current(statics: &DesiredPods, store: &StatusStore) -> Vec<Pod> {
    let running = store.list();
    statics
        .pods
        .iter()
        .map(|(uid, pod)| {
            let mut pod = (**pod).clone();
            pod.status = running
                .iter()
                .find(|p| p.metadata.uid.as_deref() == Some(uid.as_str()))
                .and_then(|p| p.status.clone());
            pod
        })
        .collect()
}

/// Runs until the static source is gone.
pub async fn run(
    channel: Channel,
    node_name: String,
    mut statics: watch::Receiver<DesiredPods>,
    store: StatusStore,
) {
    let mut client = NodeClient::new(channel);
    let mut changes = store.subscribe();
    let mut retry = RESYNC.min(Duration::from_millis(500));
    let mut sent: Option<Vec<Pod>> = None;
    let mut since = tokio::time::Instant::now();
    // Wait for the first scan of --manifests: an empty set sent before it would delete
    // every mirror and make them again with new uids. Without --manifests the source is
    // closed at once: one sync of the empty set clears mirrors a former run left.
    let mut open = statics.changed().await.is_ok();
    loop {
        let pods = current(&statics.borrow_and_update(), &store);
        let due = sent.as_ref() != Some(&pods) || since.elapsed() >= RESYNC;
        if due {
            let req = SyncMirrorPodsRequest {
                node_name: node_name.clone(),
                pods: pods.iter().map(envelope).collect(),
            };
            match client.sync_mirror_pods(req).await {
                Ok(resp) => {
                    let r = resp.into_inner();
                    debug!(
                        created = r.created,
                        updated = r.updated,
                        deleted = r.deleted,
                        "mirror pods synced"
                    );
                    sent = Some(pods);
                    since = tokio::time::Instant::now();
                    retry = Duration::from_millis(500);
                }
                Err(status) => {
                    warn!(code = ?status.code(), message = status.message(), "mirror pods not synced; retrying");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                    continue;
                }
            }
        }
        if !open {
            return;
        }
        tokio::select! {
            res = statics.changed() => open = res.is_ok(),
            res = changes.changed() => if res.is_err() { return },
            _ = tokio::time::sleep(RESYNC) => {}
        }
        tokio::time::sleep(DEBOUNCE).await;
    }
}
