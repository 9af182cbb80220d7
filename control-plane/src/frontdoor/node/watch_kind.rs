//! WatchServices and WatchEndpoints: every Service (or Endpoints object) of the cluster,
//! as a stream of watch events an agent resumes from any resourceVersion it has seen.
//!
//! The same contract as WatchPods (`watch_pods.rs`): without a resourceVersion the
//! stream starts with the current objects as ADDED, then a BOOKMARK at the list's
//! revision, then live changes; with one, it replays the store's event log from there (a
//! compacted resume point is `OutOfRange`: the agent relists and resyncs). Every node
//! proxies every Service, so there is no per-node filter, and every event of the kind is
//! sent: the agent's resume point stays current without bookmarks.

use futures::StreamExt;
use skiff_proto::v1::{Object, WatchEvent};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::watch_pods::{envelope, parse_resume_point};
use crate::core::Error;
use crate::store::{EventStream, Store, Stored};

const STREAM_BUFFER: usize = 256;

pub type ObjectEvents = ReceiverStream<Result<WatchEvent, Status>>;

/// Starts the watch of every `kind` object from `resource_version` ("" = list first).
/// Errors before the stream starts are returned; later ones end it with an error item.
pub async fn watch_kind(
    store: &dyn Store,
    kind: &str,
    resource_version: &str,
) -> Result<ObjectEvents, Error> {
    let (initial, from) = if resource_version.is_empty() {
        store.list(kind, None).await?
    } else {
        (Vec::new(), parse_resume_point(resource_version)?)
    };
    let events = store.watch(Some(kind), from).await?;
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(forward(
        tx,
        initial,
        from,
        events,
        resource_version.is_empty(),
    ));
    Ok(ReceiverStream::new(rx))
}

async fn forward(
    tx: mpsc::Sender<Result<WatchEvent, Status>>,
    initial: Vec<Stored>,
    listed_at: i64,
    mut events: EventStream,
    listed: bool,
) {
    let send = |verb: &str, object: Option<Object>, revision: i64| {
        tx.send(Ok(WatchEvent {
            r#type: verb.to_string(),
            object,
            resource_version: revision.to_string(),
        }))
    };
    for object in &initial {
        if send("ADDED", Some(envelope(object)), object.revision)
            .await
            .is_err()
        {
            return;
        }
    }
    if listed && send("BOOKMARK", None, listed_at).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => {
                    let verb = event.kind.as_str();
                    let revision = event.revision();
                    if send(verb, Some(envelope(&event.object)), revision).await.is_err() {
                        return;
                    }
                }
                Some(Err(err)) => {
                    let _ = tx.send(Err(Status::from(Error::from(err)))).await;
                    return;
                }
                None => return,
            },
            _ = tx.closed() => return,
        }
    }
}
