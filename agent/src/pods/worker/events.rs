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

    /// `Pulled` after a pull that took `took`, with the image's size when known.
    pub(super) fn pulled_event(&self, i: usize, image: &str, took: Duration, size: Option<u64>) {
        let message = pulled_message(image, took, size);
        self.container_event(i, Normal, "Pulled", message);
    }

    /// `Failed` with the waiting reason, as the kubelet follows each failure's own event.
    pub(super) fn error_event(&self, i: usize, reason: &str) {
        self.container_event(i, Warning, "Failed", format!("Error: {reason}"));
    }
}

/// The kubelet's `Pulled` message; it truncates the durations to milliseconds.
fn pulled_message(image: &str, took: Duration, size: Option<u64>) -> String {
    let took = go_duration(Duration::from_millis(took.as_millis() as u64));
    let pulled =
        format!("Successfully pulled image {image:?} in {took} ({took} including waiting)");
    match size {
        Some(bytes) => format!("{pulled}. Image size: {bytes} bytes."),
        None => pulled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulled_reads_as_the_kubelet_writes_it() {
        let took = Duration::from_micros(1_234_567);
        assert_eq!(
            pulled_message("busybox", took, Some(12345)),
            r#"Successfully pulled image "busybox" in 1.234s (1.234s including waiting). Image size: 12345 bytes."#
        );
        assert_eq!(
            pulled_message("busybox", took, None),
            r#"Successfully pulled image "busybox" in 1.234s (1.234s including waiting)"#
        );
    }
}
