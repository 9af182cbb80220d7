//! What a Node or Pod event says happened, roughly: the scheduler retries unschedulable
//! pods at once when a node changed or a pod freed its resources.

use crate::store::{Event, EventType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A node was added, changed or removed (or a volume, claim or storage class: what
    /// pods wait for).
    Node,
    /// A pod was deleted or has finished: what it requested is free.
    PodFreed,
    /// Any other pod change.
    Pod,
}

/// What an event of a watched Node or Pod says happened.
pub fn classify(event: &Event) -> Change {
    let kind = event.object.key.kind.as_str();
    if matches!(
        kind,
        "Node" | "PersistentVolume" | "PersistentVolumeClaim" | "StorageClass"
    ) {
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
