//! Change notifications for level-triggered loops.
//!
//! A loop that re-reads everything it acts on does not need the events' contents, only
//! to know that something happened and roughly what (the scheduler retries unschedulable
//! pods at once when a node changed or a pod freed its resources). The watchers never
//! give up: a lost or compacted watch restarts from the current revision and reports
//! [`Change::Resync`], since anything may have happened in between.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::store::{follow_kinds, Event, EventType, Notice, Store, StoreError};

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

/// Watches Nodes and Pods from the current revision (read before this returns, so a pass
/// that lists after it misses nothing). The watchers stop when the receiver is dropped.
pub async fn watch_nodes_and_pods(
    store: Arc<dyn Store>,
) -> Result<mpsc::Receiver<Change>, StoreError> {
    let from = store.current_revision().await?;
    Ok(follow_kinds(store, ["Node", "Pod"], from, BUFFER))
}

impl Notice for Change {
    fn event(event: Event) -> Self {
        classify(&event)
    }

    fn gap() -> Self {
        Change::Resync
    }
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
