//! Reports the status of the server's pods back with UpdatePodStatus.
//!
//! A pod whose status differs from the last one the server acknowledged is dirty until a
//! send that carried it succeeds; a failed send keeps everything dirty and it is resent
//! after the reconnect, so no status is lost. Changes are debounced, so a burst of
//! container events is one request. Static pods are not reported (they are local).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::{Object, UpdatePodStatusRequest};
use tokio::sync::watch;
use tonic::transport::Channel;
use tracing::{debug, warn};

use crate::pods::StatusStore;

/// Short: a status a user waits for (Running, Ready) goes out at once, and a burst of
/// container events still becomes one request, since what changes while a request is in
/// flight is sent together after it.
const DEBOUNCE: Duration = Duration::from_millis(20);
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Which pods need reporting. Pure, so the no-loss rules are testable.
#[derive(Debug, Default)]
pub struct Tracker {
    acked: BTreeMap<String, Option<PodStatus>>,
    dirty: BTreeSet<String>,
}

impl Tracker {
    /// Looks at the current pods (only the server's): marks changed ones dirty and
    /// forgets pods that are gone.
    pub fn observe<'a>(&mut self, pods: impl IntoIterator<Item = &'a Pod>) {
        let mut present = BTreeSet::new();
        for pod in pods {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            if self.acked.get(&uid) != Some(&pod.status) {
                self.dirty.insert(uid.clone());
            }
            present.insert(uid);
        }
        self.acked.retain(|uid, _| present.contains(uid));
        self.dirty.retain(|uid| present.contains(uid));
    }

    /// The dirty pods, as they are now.
    pub fn batch<'a>(&self, pods: impl IntoIterator<Item = &'a Pod>) -> Vec<Pod> {
        pods.into_iter()
            .filter(|p| {
                self.dirty
                    .contains(p.metadata.uid.as_deref().unwrap_or_default())
            })
            .cloned()
            .collect()
    }

    /// The server took `sent`: those statuses are acknowledged. A pod that changed again
    /// since is found dirty by the next observe.
    pub fn ack(&mut self, sent: &[Pod]) {
        for pod in sent {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            self.dirty.remove(&uid);
            self.acked.insert(uid, pod.status.clone());
        }
    }

    pub fn dirty(&self) -> usize {
        self.dirty.len()
    }
}

/// Runs the reporter forever. `server_pods` holds the uids of the pods the control plane
/// gave this node.
pub async fn run(
    channel: Channel,
    store: StatusStore,
    mut server_pods: watch::Receiver<BTreeSet<String>>,
) {
    let mut client = NodeClient::new(channel);
    let mut changes = store.subscribe();
    let mut tracker = Tracker::default();
    let mut retry = RETRY_MIN;
    loop {
        // The copy of every pod lives only here: what waits below is the changed ones.
        let batch = {
            let uids = server_pods.borrow_and_update().clone();
            let pods: Vec<Pod> = store
                .list()
                .into_iter()
                .filter(|p| uids.contains(p.metadata.uid.as_deref().unwrap_or_default()))
                .collect();
            tracker.observe(&pods);
            tracker.batch(&pods)
        };
        if !batch.is_empty() {
            let req = UpdatePodStatusRequest {
                pods: batch.iter().map(envelope).collect(),
            };
            match client.update_pod_status(req).await {
                Ok(_) => {
                    debug!(pods = batch.len(), "pod status reported");
                    tracker.ack(&batch);
                    retry = RETRY_MIN;
                }
                Err(status) => {
                    warn!(code = ?status.code(), message = status.message(), dirty = tracker.dirty(), "pod status not reported; retrying");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                    continue;
                }
            }
        }
        drop(batch);
        tokio::select! {
            res = changes.changed() => if res.is_err() { return },
            res = server_pods.changed() => if res.is_err() { return },
        }
        tokio::time::sleep(DEBOUNCE).await;
    }
}

/// A pod as the control plane takes it from a node (no resourceVersion: the server's).
pub(super) fn envelope(pod: &Pod) -> Object {
    Object {
        kind: "Pod".into(),
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        resource_version: String::new(),
        json: serde_json::to_vec(pod).expect("a pod serializes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, phase: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.uid = Some(uid.into());
        p.status = Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        p
    }

    #[test]
    fn failed_sends_stay_dirty_until_acked() {
        let mut t = Tracker::default();
        let pods = [pod("a", "Pending"), pod("b", "Pending")];
        t.observe(&pods);
        assert_eq!(t.batch(&pods).len(), 2);
        // The send fails: nothing acked, both still dirty, resent next time.
        t.observe(&pods);
        assert_eq!(t.batch(&pods).len(), 2);
        t.ack(&t.batch(&pods));
        t.observe(&pods);
        assert!(t.batch(&pods).is_empty());
        // Only the changed pod is sent.
        let pods = [pod("a", "Running"), pod("b", "Pending")];
        t.observe(&pods);
        let batch = t.batch(&pods);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].metadata.uid.as_deref(), Some("a"));
    }

    #[test]
    fn change_during_send_is_not_lost() {
        let mut t = Tracker::default();
        let sent = [pod("a", "Pending")];
        t.observe(&sent);
        let batch = t.batch(&sent);
        // The pod changes while the request is in flight; the ack is for the old status.
        t.ack(&batch);
        let now = [pod("a", "Running")];
        t.observe(&now);
        assert_eq!(t.batch(&now).len(), 1);
    }

    #[test]
    fn gone_pods_are_forgotten() {
        let mut t = Tracker::default();
        t.observe(&[pod("a", "Pending")]);
        t.observe(&[]);
        assert_eq!(t.dirty(), 0);
    }
}
