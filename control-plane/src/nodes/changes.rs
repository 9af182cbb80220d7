//! Change notifications for level-triggered loops.
//!
//! A loop that re-reads everything it acts on does not need the events' contents, only
//! to know that something happened and roughly what (the scheduler retries unschedulable
//! pods at once when a node changed or a pod freed its resources). The watchers never
//! give up: a lost or compacted watch restarts from the current revision and reports
//! [`Change::Resync`], since anything may have happened in between.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::store::{Event, EventType, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A node was added, changed or removed.
    Node,
    /// A pod was deleted or has finished: what it requested is free.
    PodFreed,
    /// Any other pod change.
    Pod,
    /// A watch was lost and restarted: anything may have changed.
    Resync,
}

const BUFFER: usize = 256;
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Watches Nodes and Pods from the current revision (read before this returns, so a pass
/// that lists after it misses nothing). The watchers stop when the receiver is dropped.
pub async fn watch_nodes_and_pods(
    store: Arc<dyn Store>,
) -> Result<mpsc::Receiver<Change>, StoreError> {
    let from = store.current_revision().await?;
    let (tx, rx) = mpsc::channel(BUFFER);
    for kind in ["Node", "Pod"] {
        tokio::spawn(watch_kind(store.clone(), kind, from, tx.clone()));
    }
    Ok(rx)
}

fn classify(event: &Event) -> Change {
    if event.object.key.kind == "Node" {
        return Change::Node;
    }
    if event.kind == EventType::Deleted {
        return Change::PodFreed;
    }
    let finished = serde_json::from_slice::<serde_json::Value>(&event.object.json)
        .ok()
        .and_then(|v| v["status"]["phase"].as_str().map(str::to_string))
        .is_some_and(|phase| phase == "Succeeded" || phase == "Failed");
    if finished {
        Change::PodFreed
    } else {
        Change::Pod
    }
}

async fn watch_kind(
    store: Arc<dyn Store>,
    kind: &'static str,
    mut from: i64,
    tx: mpsc::Sender<Change>,
) {
    let mut retry = Duration::from_millis(100);
    loop {
        let watch = tokio::select! {
            watch = store.watch(Some(kind), from) => watch,
            _ = tx.closed() => return,
        };
        match watch {
            Ok(mut events) => loop {
                tokio::select! {
                    event = events.next() => match event {
                        Some(Ok(event)) => {
                            from = event.revision();
                            retry = Duration::from_millis(100);
                            if tx.send(classify(&event)).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(err)) => {
                            tracing::warn!(kind, error = %err, "watch lost; restarting");
                            break;
                        }
                        None => break,
                    },
                    _ = tx.closed() => return,
                }
            },
            Err(err) => tracing::warn!(kind, error = %err, "watch failed; retrying"),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
        match store.current_revision().await {
            Ok(revision) => from = revision,
            Err(_) => continue,
        }
        if tx.send(Change::Resync).await.is_err() {
            return;
        }
    }
}
