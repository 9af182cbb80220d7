//! One resumable watch of the control plane's Services or Endpoints, as a stream of
//! [`Delta`]s for the syncer.
//!
//! As the pod watch (`join/source.rs`): a list (no resource version) collects objects
//! until its BOOKMARK and then replaces the whole set ([`Delta::Resync`]); later events
//! are single changes; a reconnect resumes from the last resource version seen, so
//! nothing is lost, and is announced ([`Delta::Reconnected`]) so the syncer re-asserts
//! every rule; a compacted resume point (`OutOfRange`) starts a new list.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::{WatchEndpointsRequest, WatchEvent, WatchNodesRequest, WatchServicesRequest};
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tracing::{debug, info, warn};

const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// (namespace, name).
pub type ObjectKey = (String, String);

/// What changed in the watched set.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta<T> {
    /// The complete set (after a list).
    Resync(BTreeMap<ObjectKey, T>),
    Upsert(ObjectKey, T),
    Remove(ObjectKey),
    /// The watch resumed after a break: the set is unchanged, the rules may need re-asserting.
    Reconnected,
}

/// Which rpc to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    Services,
    Endpoints,
    /// Every Node, for the pod network across nodes (`join/pod_network.rs`).
    Nodes,
}

/// A watch's view: where to resume, and the objects of a list under way. Pure.
#[derive(Debug)]
pub struct WatchState<T> {
    pub resource_version: String,
    listing: Option<BTreeMap<ObjectKey, T>>,
}

impl<T> Default for WatchState<T> {
    fn default() -> Self {
        WatchState {
            resource_version: String::new(),
            listing: None,
        }
    }
}

impl<T: DeserializeOwned> WatchState<T> {
    /// Before each (re)connect: with no resume point, a list starts.
    pub fn starting(&mut self) {
        self.listing = self.resource_version.is_empty().then(BTreeMap::new);
    }

    /// One event → the delta it means, if any.
    pub fn apply(&mut self, event: WatchEvent) -> Option<Delta<T>> {
        if !event.resource_version.is_empty() {
            self.resource_version = event.resource_version.clone();
        }
        if event.r#type == "BOOKMARK" {
            return self.listing.take().map(Delta::Resync);
        }
        let object = event.object?;
        let key = (object.namespace.clone(), object.name.clone());
        let value: T = match serde_json::from_slice(&object.json) {
            Ok(value) => value,
            Err(error) => {
                warn!(kind = %object.kind, name = %object.name, %error, "server sent an undecodable object");
                return None;
            }
        };
        let listing = self.listing.as_mut();
        match (event.r#type.as_str(), listing) {
            ("ADDED" | "MODIFIED", Some(listing)) => {
                listing.insert(key, value);
                None
            }
            ("DELETED", Some(listing)) => {
                listing.remove(&key);
                None
            }
            ("ADDED" | "MODIFIED", None) => Some(Delta::Upsert(key, value)),
            ("DELETED", None) => Some(Delta::Remove(key)),
            (other, _) => {
                debug!(r#type = other, "unknown watch event type");
                None
            }
        }
    }
}

/// Watches `what` forever, sending deltas until the receiver goes away.
pub async fn run<T>(channel: Channel, node_name: String, what: Watched, out: mpsc::Sender<Delta<T>>)
where
    T: DeserializeOwned + Send + 'static,
{
    let mut client = NodeClient::new(channel);
    let mut state = WatchState::<T>::default();
    let mut backoff = BACKOFF_MIN;
    let mut broken = false;
    loop {
        state.starting();
        let rv = state.resource_version.clone();
        let opened = match what {
            Watched::Services => {
                client
                    .watch_services(WatchServicesRequest {
                        node_name: node_name.clone(),
                        resource_version: rv,
                    })
                    .await
            }
            Watched::Endpoints => {
                client
                    .watch_endpoints(WatchEndpointsRequest {
                        node_name: node_name.clone(),
                        resource_version: rv,
                    })
                    .await
            }
            Watched::Nodes => {
                client
                    .watch_nodes(WatchNodesRequest {
                        node_name: node_name.clone(),
                        resource_version: rv,
                    })
                    .await
            }
        };
        match opened {
            Ok(resp) => {
                info!(watch = ?what, resume = %state.resource_version, "watching");
                if broken
                    && !state.resource_version.is_empty()
                    && out.send(Delta::Reconnected).await.is_err()
                {
                    return;
                }
                let mut stream = resp.into_inner();
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(event) => {
                            backoff = BACKOFF_MIN;
                            if let Some(delta) = state.apply(event) {
                                if out.send(delta).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(status) => {
                            on_error(&mut state, what, &status);
                            break;
                        }
                    }
                }
            }
            Err(status) => on_error(&mut state, what, &status),
        }
        broken = true;
        if out.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

fn on_error<T>(state: &mut WatchState<T>, what: Watched, status: &tonic::Status) {
    if status.code() == tonic::Code::OutOfRange {
        info!(watch = ?what, resume = %state.resource_version, "resume point compacted: relisting");
        state.resource_version.clear();
    } else {
        warn!(watch = ?what, code = ?status.code(), message = status.message(), "watch ended; reconnecting");
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Service;
    use skiff_proto::v1::Object;

    use super::*;

    fn event(kind: &str, name: &str, rv: &str) -> WatchEvent {
        let json = serde_json::json!({"metadata": {"name": name, "namespace": "default"}});
        WatchEvent {
            r#type: kind.into(),
            object: Some(Object {
                kind: "Service".into(),
                namespace: "default".into(),
                name: name.into(),
                json: serde_json::to_vec(&json).unwrap(),
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

    fn key(name: &str) -> ObjectKey {
        ("default".into(), name.into())
    }

    #[test]
    fn a_list_is_one_resync_at_its_bookmark_then_changes_come_one_by_one() {
        let mut state = WatchState::<Service>::default();
        state.starting();
        assert_eq!(state.apply(event("ADDED", "a", "3")), None);
        assert_eq!(state.apply(event("ADDED", "b", "4")), None);
        assert_eq!(state.apply(event("DELETED", "b", "5")), None);
        let Some(Delta::Resync(all)) = state.apply(bookmark("6")) else {
            panic!("a resync")
        };
        assert_eq!(all.keys().cloned().collect::<Vec<_>>(), [key("a")]);
        assert!(
            matches!(state.apply(event("MODIFIED", "a", "7")), Some(Delta::Upsert(k, _)) if k == key("a"))
        );
        // A reconnect resumes from 7: no list, changes as they come.
        state.starting();
        assert_eq!(state.resource_version, "7");
        assert_eq!(
            state.apply(event("DELETED", "a", "8")),
            Some(Delta::Remove(key("a")))
        );
        // A compacted resume point: a new list.
        state.resource_version.clear();
        state.starting();
        assert_eq!(state.apply(event("ADDED", "c", "20")), None);
        assert!(matches!(state.apply(bookmark("20")), Some(Delta::Resync(all)) if all.len() == 1));
    }
}
