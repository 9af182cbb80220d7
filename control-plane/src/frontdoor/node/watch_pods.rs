//! WatchPods: the pods bound to one node, as a stream of watch events the agent can
//! resume from any resourceVersion it has seen.
//!
//! Without a resourceVersion the stream starts with the node's current pods as ADDED,
//! then a BOOKMARK at the list's revision, then live changes. With one, it replays the
//! store's event log from there (the store keeps every event since the compaction point;
//! a compacted resume point is `OutOfRange`, and the agent relists).
//!
//! The store's events are about all pods; this filter turns them into the node's view.
//! A pod bound to the node (the scheduler's write is a MODIFIED of `spec.nodeName`)
//! appears as ADDED the first time this stream sees it bound, then MODIFIED; its deletion
//! is DELETED. On a resumed stream the server cannot know which pods the agent already
//! holds, so a pod's first event after the resume point is ADDED even when the agent knew
//! it: agents treat ADDED of a known pod as an update, as Kubernetes informers do.
//! Events about other nodes' pods are not sent, but their revisions are, as periodic
//! BOOKMARKs, so a quiet node's resume point does not fall behind compaction.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use skiff_proto::v1::{Object, WatchEvent};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::invalid;
use crate::controllers::nodes::NodeContext;
use crate::core::Error;
use crate::store::{EventStream, EventType, Key, Store, Stored};

/// How often a stream whose node saw no event tells the agent how far it has got.
pub const BOOKMARK_EVERY: Duration = Duration::from_secs(10);

/// Events buffered per stream before the forwarder waits for the agent.
const STREAM_BUFFER: usize = 64;

pub type PodEvents = ReceiverStream<Result<WatchEvent, Status>>;

/// Starts the watch of `node`'s pods from `resource_version` ("" = list, then watch).
/// Errors that happen before the stream starts (bad or compacted resourceVersion, store
/// down) are returned here; later ones end the stream with an error item.
pub async fn watch_pods(
    ctx: &NodeContext,
    node: &str,
    resource_version: &str,
) -> Result<PodEvents, Error> {
    let store: Arc<dyn Store> = ctx.cp.store.clone();
    let (initial, from) = if resource_version.is_empty() {
        let (pods, revision) = store.list("Pod", None).await?;
        let bound = pods
            .into_iter()
            .filter(|p| bound_node(p).as_deref() == Some(node))
            .collect();
        (bound, revision)
    } else {
        (Vec::new(), parse_resume_point(resource_version)?)
    };
    let events = store.watch(Some("Pod"), from).await?;
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let forwarder = Forwarder {
        node: node.to_string(),
        seen: HashSet::new(),
        sent: from,
        latest: from,
        tx,
    };
    tokio::spawn(forwarder.run(initial, events, resource_version.is_empty()));
    Ok(ReceiverStream::new(rx))
}

/// The revision a watch resumes from (a resourceVersion the agent saw).
pub fn parse_resume_point(resource_version: &str) -> Result<i64, Error> {
    resource_version
        .parse::<i64>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            invalid(format!(
                "resourceVersion {resource_version:?} is not a revision"
            ))
        })
}

/// `spec.nodeName` of a stored pod, read from its JSON.
fn bound_node(stored: &Stored) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(&stored.json).ok()?;
    value["spec"]["nodeName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// Turns the store's pod events into one node's watch events (one task per stream).
struct Forwarder {
    node: String,
    /// Pods this stream has reported as bound to the node and not yet as gone.
    seen: HashSet<Key>,
    /// The last revision the agent was told about (event or bookmark).
    sent: i64,
    /// The last revision the store reported, whether or not it concerned this node.
    latest: i64,
    tx: mpsc::Sender<Result<WatchEvent, Status>>,
}

impl Forwarder {
    async fn run(mut self, initial: Vec<Stored>, mut events: EventStream, listed: bool) {
        for pod in initial {
            self.seen.insert(pod.key.clone());
            if !self.send("ADDED", Some(envelope(&pod)), pod.revision).await {
                return;
            }
        }
        if listed && !self.bookmark().await {
            return;
        }
        let start = tokio::time::Instant::now() + BOOKMARK_EVERY;
        let mut bookmarks = tokio::time::interval_at(start, BOOKMARK_EVERY);
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        self.latest = event.revision();
                        if !self.forward(event.kind, &event.object).await {
                            return;
                        }
                    }
                    Some(Err(err)) => {
                        let _ = self.tx.send(Err(Status::from(Error::from(err)))).await;
                        return;
                    }
                    None => return,
                },
                _ = bookmarks.tick() => {
                    if self.latest > self.sent && !self.bookmark().await {
                        return;
                    }
                }
                _ = self.tx.closed() => return,
            }
        }
    }

    /// Sends what `kind` of `pod` means for this node, if anything; false when the agent
    /// has gone.
    async fn forward(&mut self, kind: EventType, pod: &Stored) -> bool {
        let bound_here = bound_node(pod).as_deref() == Some(self.node.as_str());
        let known = self.seen.contains(&pod.key);
        let verb = match (kind, bound_here, known) {
            (EventType::Deleted, true, _) | (EventType::Deleted, false, true) => "DELETED",
            // Bound to another node now: gone from this one.
            (_, false, true) => "DELETED",
            (_, true, false) => "ADDED",
            (_, true, true) => "MODIFIED",
            (_, false, false) => return true,
        };
        match verb {
            "DELETED" => self.seen.remove(&pod.key),
            _ => self.seen.insert(pod.key.clone()),
        };
        self.send(verb, Some(envelope(pod)), pod.revision).await
    }

    async fn bookmark(&mut self) -> bool {
        self.send("BOOKMARK", None, self.latest).await
    }

    async fn send(&mut self, verb: &str, object: Option<Object>, revision: i64) -> bool {
        let event = WatchEvent {
            r#type: verb.to_string(),
            object,
            resource_version: revision.to_string(),
        };
        self.sent = self.sent.max(revision);
        self.tx.send(Ok(event)).await.is_ok()
    }
}

/// The envelope agents receive: the stored JSON with uid and resourceVersion filled in.
pub fn envelope(stored: &Stored) -> Object {
    let revision = stored.revision.to_string();
    let json = match serde_json::from_slice::<serde_json::Value>(&stored.json) {
        Ok(mut value) => {
            if let Some(object) = value.as_object_mut() {
                let meta = object
                    .entry("metadata")
                    .or_insert_with(|| serde_json::json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("uid".into(), stored.uid.clone().into());
                    meta.insert("resourceVersion".into(), revision.clone().into());
                }
            }
            serde_json::to_vec(&value).expect("a JSON value serializes")
        }
        // Not ours to fix: pass it on as stored, the receiver reports it.
        Err(_) => stored.json.clone(),
    };
    Object {
        kind: stored.key.kind.clone(),
        namespace: stored.key.namespace.clone(),
        name: stored.key.name.clone(),
        uid: stored.uid.clone(),
        resource_version: revision,
        json,
    }
}
