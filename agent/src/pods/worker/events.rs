//! The worker's events, with the kubelet's reasons and messages (its `events.go` and
//! `kuberuntime`): what `describe pod` shows under Events.

use std::time::Duration;

use super::Worker;
use crate::pods::events::{go_duration, EventType, PodEvent};
use crate::pods::pod_runtime::PodRuntime;

pub(super) use EventType::{Normal, Warning};

impl<R: PodRuntime> Worker<R> {
    /// An event about the pod itself.
    pub(super) fn pod_event(&self, type_: EventType, reason: &str, message: String) {
        let event = PodEvent::new(&self.pod, String::new(), type_, reason, message);
        self.cfg.events.record(event);
    }

    /// An event about slot `i`'s container (`involvedObject.fieldPath` names it).
    pub(super) fn container_event(
        &self,
        i: usize,
        type_: EventType,
        reason: &str,
        message: String,
    ) {
        let slot = &self.slots[i];
        let list = if slot.is_init {
            "initContainers"
        } else {
            "containers"
        };
        let field_path = format!("spec.{list}{{{}}}", slot.spec.name);
        let event = PodEvent::new(&self.pod, field_path, type_, reason, message);
        self.cfg.events.record(event);
    }

    /// `Pulled` after a pull that took `took`.
    pub(super) fn pulled_event(&self, i: usize, image: &str, took: Duration) {
        let took = go_duration(took);
        let message =
            format!("Successfully pulled image {image:?} in {took} ({took} including waiting)");
        self.container_event(i, Normal, "Pulled", message);
    }

    /// `Failed` with the waiting reason, as the kubelet follows each failure's own event.
    pub(super) fn error_event(&self, i: usize, reason: &str) {
        self.container_event(i, Warning, "Failed", format!("Error: {reason}"));
    }
}
