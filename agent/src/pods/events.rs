//! The kubelet's events about pods (Pulling, Started, BackOff, Unhealthy, ...), as the
//! pod worker records them. Recording never waits: events go into a bounded queue that
//! `join::events` drains to the control plane; a full queue drops the event with a log
//! line, never the pod's progress. Similar events with changing messages are combined
//! first (`similar_events`), so a flood makes counts, not objects. A standalone node
//! records none.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::mpsc;
use tracing::warn;

use super::similar_events::SimilarEvents;

/// Normal or Warning, as the kubelet types its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One event about a pod, or one of its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvent {
    pub namespace: String,
    pub pod_name: String,
    pub pod_uid: String,
    /// `spec.containers{name}` (or `spec.initContainers{name}`); empty for the pod.
    pub field_path: String,
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

impl PodEvent {
    pub fn new(
        pod: &Pod,
        field_path: String,
        type_: EventType,
        reason: &str,
        message: String,
    ) -> Self {
        let meta = &pod.metadata;
        PodEvent {
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            pod_name: meta.name.clone().unwrap_or_default(),
            pod_uid: meta.uid.clone().unwrap_or_default(),
            field_path,
            type_,
            reason: reason.into(),
            message,
        }
    }
}

/// A Warning about container `app` of pod `web` (uid `uid`), for tests.
#[cfg(test)]
pub fn test_event(uid: &str, reason: &str, message: &str) -> PodEvent {
    PodEvent {
        namespace: "default".into(),
        pod_name: "web".into(),
        pod_uid: uid.into(),
        field_path: "spec.containers{app}".into(),
        type_: EventType::Warning,
        reason: reason.into(),
        message: message.into(),
    }
}

/// Where a worker's events go.
pub trait EventRecorder: Send + Sync {
    /// Takes the event without waiting (it may be dropped, with a log line).
    fn record(&self, event: PodEvent);
}

/// A node without a control plane: events are only logged by the worker.
pub struct NoEvents;

impl EventRecorder for NoEvents {
    fn record(&self, _event: PodEvent) {}
}

/// The bounded queue in front of the sender (`join::events`).
pub struct QueuedEvents {
    tx: mpsc::Sender<PodEvent>,
    similar: Mutex<SimilarEvents>,
}

/// A recorder and the receiving end of its queue of `capacity` events.
pub fn queue(capacity: usize) -> (Arc<QueuedEvents>, mpsc::Receiver<PodEvent>) {
    let (tx, rx) = mpsc::channel(capacity);
    let similar = Mutex::new(SimilarEvents::default());
    (Arc::new(QueuedEvents { tx, similar }), rx)
}

impl EventRecorder for QueuedEvents {
    fn record(&self, event: PodEvent) {
        let event = match self.similar.lock() {
            Ok(mut similar) => similar.observe(event, std::time::Instant::now()),
            Err(_) => event,
        };
        if let Err(err) = self.tx.try_send(event) {
            let event = match &err {
                mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e) => e,
            };
            warn!(pod = %format!("{}/{}", event.namespace, event.pod_name), reason = %event.reason, "event queue full: event dropped");
        }
    }
}

/// A recording fake for the worker's tests.
#[cfg(test)]
#[derive(Default)]
pub struct RecordedEvents {
    events: std::sync::Mutex<Vec<PodEvent>>,
}

#[cfg(test)]
impl RecordedEvents {
    /// (reason, message) in the order recorded.
    pub fn reasons(&self) -> Vec<(String, String)> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .map(|e| (e.reason.clone(), e.message.clone()))
            .collect()
    }

    pub fn all(&self) -> Vec<PodEvent> {
        self.events.lock().unwrap().clone()
    }
}

#[cfg(test)]
impl EventRecorder for RecordedEvents {
    fn record(&self, event: PodEvent) {
        self.events.lock().unwrap().push(event);
    }
}

/// A duration as Go prints one (`1.234s`, `523ms`), as the kubelet's messages show it.
pub fn go_duration(d: std::time::Duration) -> String {
    let trim = |s: String| s.trim_end_matches('0').trim_end_matches('.').to_string();
    if d.as_secs() >= 1 {
        format!("{}s", trim(format!("{:.9}", d.as_secs_f64())))
    } else {
        format!("{}ms", trim(format!("{:.6}", d.as_secs_f64() * 1000.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_as_the_kubelet_prints_them() {
        assert_eq!(go_duration(Duration::from_millis(1200)), "1.2s");
        assert_eq!(go_duration(Duration::from_millis(523)), "523ms");
        assert_eq!(go_duration(Duration::from_secs(3)), "3s");
    }

    #[tokio::test]
    async fn a_full_queue_drops_events_without_waiting() {
        let (recorder, mut rx) = queue(2);
        let pod = Pod::default();
        for reason in ["Pulling", "Pulled", "Created"] {
            let e = PodEvent::new(
                &pod,
                String::new(),
                EventType::Normal,
                reason,
                String::new(),
            );
            recorder.record(e);
        }
        assert_eq!(rx.recv().await.unwrap().reason, "Pulling");
        assert_eq!(rx.recv().await.unwrap().reason, "Pulled");
        assert!(rx.try_recv().is_err(), "the third was dropped");
    }
}
