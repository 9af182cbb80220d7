//! Sends the pod workers' events (`pods::events`) to the control plane with
//! RecordPodEvents: a short wait gathers a batch, repeats in it are folded into one
//! entry with a count, and only pods the server gave this node are reported (static
//! pods are local). A control plane that does not answer gets a few retries, then the
//! batch is dropped with a log line: events are for people, never worth blocking on.

use std::collections::BTreeSet;
use std::time::Duration;

use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::{PodEvent as WireEvent, RecordPodEventsRequest};
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;
use tracing::{debug, warn};

use crate::pods::events::PodEvent;

/// Events arriving this close together go in one request.
const GATHER: Duration = Duration::from_millis(200);
const MAX_BATCH: usize = 200;
/// Tries per batch before it is dropped, the wait doubling between them.
const ATTEMPTS: u32 = 4;
const RETRY_FIRST: Duration = Duration::from_millis(500);

/// The queue's capacity: a few bursts of events from many pods.
pub const QUEUE: usize = 1000;

/// Runs until the queue closes.
pub async fn run(
    channel: Channel,
    node_name: String,
    mut queue: mpsc::Receiver<PodEvent>,
    server_pods: watch::Receiver<BTreeSet<String>>,
) {
    let mut client = NodeClient::new(channel);
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + GATHER;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(event)) => batch.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        let uids = server_pods.borrow().clone();
        batch.retain(|e| uids.contains(&e.pod_uid));
        if batch.is_empty() {
            continue;
        }
        let req = RecordPodEventsRequest {
            node_name: node_name.clone(),
            events: fold(batch),
        };
        send(&mut client, req).await;
    }
}

async fn send(client: &mut NodeClient<Channel>, req: RecordPodEventsRequest) {
    let mut wait = RETRY_FIRST;
    for attempt in 1..=ATTEMPTS {
        match client.record_pod_events(req.clone()).await {
            Ok(_) => {
                debug!(events = req.events.len(), "pod events recorded");
                return;
            }
            // Refused (a pod moved to another node meanwhile): trying again cannot help.
            Err(status)
                if status.code() == tonic::Code::PermissionDenied
                    || status.code() == tonic::Code::InvalidArgument =>
            {
                warn!(code = ?status.code(), message = status.message(), events = req.events.len(), "pod events refused: dropped");
                return;
            }
            Err(status) if attempt == ATTEMPTS => {
                warn!(code = ?status.code(), message = status.message(), events = req.events.len(), "pod events not recorded: dropped");
            }
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}

/// One wire entry per distinct event, counting its repeats, in first-seen order.
pub fn fold(events: Vec<PodEvent>) -> Vec<WireEvent> {
    let mut out: Vec<WireEvent> = Vec::new();
    for e in events {
        let wire = WireEvent {
            namespace: e.namespace,
            pod_name: e.pod_name,
            pod_uid: e.pod_uid,
            field_path: e.field_path,
            r#type: e.type_.as_str().into(),
            reason: e.reason,
            message: e.message,
            count: 1,
        };
        match out.iter_mut().find(|o| {
            WireEvent {
                count: 1,
                ..(*o).clone()
            } == wire
        }) {
            Some(same) => same.count += 1,
            None => out.push(wire),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::events::test_event;

    fn event(uid: &str, reason: &str) -> PodEvent {
        test_event(uid, reason, "m")
    }

    #[test]
    fn repeats_in_a_batch_become_one_entry_with_a_count() {
        let folded = fold(vec![
            event("u1", "BackOff"),
            event("u1", "Unhealthy"),
            event("u1", "BackOff"),
            event("u2", "BackOff"),
        ]);
        let got: Vec<(&str, &str, i32)> = folded
            .iter()
            .map(|e| (e.pod_uid.as_str(), e.reason.as_str(), e.count))
            .collect();
        assert_eq!(
            got,
            [
                ("u1", "BackOff", 2),
                ("u1", "Unhealthy", 1),
                ("u2", "BackOff", 1)
            ]
        );
    }
}
