//! The control plane's pods for this node, from WatchPods, as a pod source.
//!
//! The watch resumes from the last resource version it saw, so a reconnect replays only
//! what was missed; a resume point the server has compacted away (`OutOfRange`) means a
//! fresh list that replaces the whole set. The result is merged with the static manifest
//! source: static pods stay local, their mirror pods on the server are ignored here
//! (`mirror.rs` keeps them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::{WatchEvent, WatchPodsRequest};
use tokio::sync::watch;
use tonic::transport::Channel;
use tracing::{debug, info, warn};

use crate::sources::DesiredPods;

const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Deletion grace periods kept at most (`WatchState::deletion_grace`).
const MAX_GRACES: usize = 1024;

/// The watch's view: pods by uid and where to resume. Pure, so its rules are testable
/// without a server.
#[derive(Debug, Default)]
pub struct WatchState {
    pub resource_version: String,
    pub pods: BTreeMap<String, Arc<Pod>>,
    /// While a list is under way (no resource version): the pods listed so far. The set is
    /// replaced by them at the list's BOOKMARK, so pods deleted meanwhile disappear.
    listing: Option<BTreeMap<String, Arc<Pod>>>,
    /// Whether the set has been complete at least once.
    pub synced: bool,
    /// The deletion grace periods of pods deleted with one (`DesiredPods::deletion_grace`).
    pub deletion_grace: BTreeMap<String, i64>,
}

impl WatchState {
    /// Called before each (re)connect: with no resume point, a list starts.
    pub fn starting(&mut self) {
        self.listing = self.resource_version.is_empty().then(BTreeMap::new);
    }

    /// The resume point is gone (compacted): list again from scratch.
    pub fn relist(&mut self) {
        self.resource_version.clear();
    }

    /// Applies one event; true when the published set changed.
    pub fn apply(&mut self, event: WatchEvent) -> bool {
        if !event.resource_version.is_empty() {
            self.resource_version = event.resource_version.clone();
        }
        if event.r#type == "BOOKMARK" {
            return match self.listing.take() {
                Some(listed) => {
                    self.pods = listed;
                    self.synced = true;
                    true
                }
                None => false,
            };
        }
        let Some(object) = event.object else {
            return false;
        };
        let mut pod: Pod = match serde_json::from_slice(&object.json) {
            Ok(pod) => pod,
            Err(error) => {
                warn!(pod = %object.name, %error, "server sent an undecodable pod");
                return false;
            }
        };
        // Nothing on the node reads who manages which field; each pod's managedFields
        // were B-tree nodes held for its life (docs/architecture.md, What the agent's
        // memory is), and a change to them alone changes nothing here.
        pod.metadata.managed_fields = None;
        // Mirror pods are the API's copies of static pods (this node's or another's): the
        // static manifest is what runs, never the mirror.
        let mirror = pod
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(super::mirror::MIRROR_ANNOTATION));
        if mirror {
            return false;
        }
        let uid = pod
            .metadata
            .uid
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or(object.uid);
        let target = self.listing.as_mut().unwrap_or(&mut self.pods);
        match event.r#type.as_str() {
            // ADDED of a known pod (a resumed watch) is an update, as in informers.
            "ADDED" | "MODIFIED" => {
                let changed = target.get(&uid).map(|p| &**p) != Some(&pod);
                target.insert(uid, Arc::new(pod));
                changed && self.listing.is_none()
            }
            "DELETED" => {
                if let Some(grace) = pod.metadata.deletion_grace_period_seconds {
                    // Only needed until the worker heard it: a bound, not a history.
                    if self.deletion_grace.len() >= MAX_GRACES {
                        self.deletion_grace.clear();
                    }
                    self.deletion_grace.insert(uid.clone(), grace);
                }
                target.remove(&uid).is_some() && self.listing.is_none()
            }
            other => {
                debug!(r#type = other, "unknown watch event type");
                false
            }
        }
    }
}

/// Combines the static pods with the server's: both keyed by uid, which never collide
/// (static uids are derived from the file, the server's are random).
pub fn merge(statics: &DesiredPods, server: &DesiredPods) -> DesiredPods {
    let mut out = statics.clone();
    out.pods
        .extend(server.pods.iter().map(|(k, v)| (k.clone(), v.clone())));
    out.deletion_grace.extend(server.deletion_grace.clone());
    out
}

impl WatchState {
    /// The server's side of the desired pods.
    pub fn published(&self) -> DesiredPods {
        DesiredPods {
            pods: self.pods.clone(),
            deletion_grace: self.deletion_grace.clone(),
            ..DesiredPods::default()
        }
    }
}

/// Watches this node's pods forever, publishing the set after the first complete list
/// and after every change.
pub async fn run(channel: Channel, node_name: String, out: watch::Sender<Option<DesiredPods>>) {
    let mut client = NodeClient::new(channel);
    let mut state = WatchState::default();
    let mut backoff = BACKOFF_MIN;
    loop {
        state.starting();
        let req = WatchPodsRequest {
            node_name: node_name.clone(),
            resource_version: state.resource_version.clone(),
        };
        match client.watch_pods(req).await {
            Ok(resp) => {
                info!(resume = %state.resource_version, "watching this node's pods");
                let mut stream = resp.into_inner();
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(event) => {
                            backoff = BACKOFF_MIN;
                            if state.apply(event) && state.synced {
                                out.send_replace(Some(state.published()));
                            }
                        }
                        Err(status) => {
                            handle_error(&mut state, &status);
                            break;
                        }
                    }
                }
            }
            Err(status) => handle_error(&mut state, &status),
        }
        if out.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

fn handle_error(state: &mut WatchState, status: &tonic::Status) {
    if status.code() == tonic::Code::OutOfRange {
        info!(resume = %state.resource_version, "resume point compacted: relisting");
        state.relist();
    } else {
        warn!(code = ?status.code(), message = status.message(), "pod watch ended; reconnecting");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_proto::v1::Object;

    fn pod_event(kind: &str, uid: &str, image: &str, rv: &str) -> WatchEvent {
        let pod = serde_json::json!({
            "metadata": {"name": uid, "namespace": "default", "uid": uid},
            "spec": {"containers": [{"name": "c", "image": image}]}
        });
        WatchEvent {
            r#type: kind.into(),
            object: Some(Object {
                kind: "Pod".into(),
                name: uid.into(),
                uid: uid.into(),
                json: serde_json::to_vec(&pod).unwrap(),
                ..Default::default()
            }),
            resource_version: rv.into(),
        }
    }

    fn bookmark(rv: &str) -> WatchEvent {
        WatchEvent {
            r#type: "BOOKMARK".into(),
            object: None,
            resource_version: rv.into(),
        }
    }

    #[test]
    fn list_publishes_at_bookmark_then_resumes() {
        let mut s = WatchState::default();
        s.starting();
        assert!(!s.apply(pod_event("ADDED", "a", "x", "5")));
        assert!(!s.synced);
        assert!(s.apply(bookmark("7")));
        assert!(s.synced);
        assert_eq!(s.resource_version, "7");
        // Reconnect: resume from 7, ADDED of a known pod is an update.
        s.starting();
        assert!(s.apply(pod_event("ADDED", "a", "y", "8")));
        assert_eq!(s.pods.len(), 1);
        assert!(
            !s.apply(pod_event("ADDED", "a", "y", "9")),
            "same pod: no change"
        );
        assert!(!s.apply(bookmark("12")));
        assert_eq!(s.resource_version, "12");
        assert!(s.apply(pod_event("DELETED", "a", "y", "13")));
        assert!(s.pods.is_empty());
    }

    #[test]
    fn a_deletion_with_a_grace_period_is_published_with_it() {
        let mut s = WatchState::default();
        s.starting();
        s.apply(pod_event("ADDED", "a", "x", "1"));
        s.apply(pod_event("ADDED", "b", "x", "1"));
        s.apply(bookmark("2"));
        let mut evicted = pod_event("DELETED", "a", "x", "3");
        let object = evicted.object.as_mut().unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&object.json).unwrap();
        json["metadata"]["deletionGracePeriodSeconds"] = 1.into();
        object.json = serde_json::to_vec(&json).unwrap();
        assert!(s.apply(evicted));
        assert!(s.apply(pod_event("DELETED", "b", "x", "4")));
        let published = s.published();
        assert!(published.pods.is_empty());
        assert_eq!(published.deletion_grace, [("a".to_string(), 1)].into());
    }

    #[test]
    fn pods_are_held_without_their_managed_fields() {
        let mut s = WatchState::default();
        s.starting();
        let with_managers = |manager: &str, rv: &str| {
            let mut event = pod_event("ADDED", "a", "x", rv);
            let object = event.object.as_mut().unwrap();
            let mut json: serde_json::Value = serde_json::from_slice(&object.json).unwrap();
            json["metadata"]["managedFields"] = serde_json::json!([{
                "manager": manager, "operation": "Update", "apiVersion": "v1",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {}}}
            }]);
            object.json = serde_json::to_vec(&json).unwrap();
            event
        };
        s.apply(with_managers("kubectl", "1"));
        assert!(s.apply(bookmark("2")));
        assert_eq!(s.pods["a"].metadata.managed_fields, None);
        assert!(
            !s.apply(with_managers("helm", "3")),
            "a change of managers alone is no change on the node"
        );
    }

    #[test]
    fn relist_replaces_the_set() {
        let mut s = WatchState::default();
        s.starting();
        s.apply(pod_event("ADDED", "a", "x", "1"));
        s.apply(pod_event("ADDED", "b", "x", "1"));
        s.apply(bookmark("2"));
        // Compacted: b was deleted while we were away, the relist does not mention it.
        s.relist();
        s.starting();
        assert!(s.resource_version.is_empty());
        s.apply(pod_event("ADDED", "a", "x", "9"));
        assert_eq!(s.pods.len(), 2, "old set kept until the list completes");
        assert!(s.apply(bookmark("9")));
        assert_eq!(s.pods.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn merge_keeps_static_pods() {
        let mut statics = DesiredPods::default();
        statics
            .pods
            .insert("static-1".into(), Arc::new(Pod::default()));
        let server = DesiredPods {
            pods: BTreeMap::from([("srv-1".to_string(), Arc::new(Pod::default()))]),
            ..DesiredPods::default()
        };
        let merged = merge(&statics, &server);
        assert_eq!(merged.pods.len(), 2);
    }
}
