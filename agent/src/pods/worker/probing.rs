//! The worker's side of probes: a prober per running container that declares any, and
//! what their verdicts do (liveness and startup failures restart, readiness only reports).

use std::time::{Duration, SystemTime};

use tracing::{debug, info, warn};

use super::events::{Normal, Warning};
use super::Worker;
use crate::pod_dirs;
use crate::pods::pod_runtime::PodRuntime;
use crate::pods::slot::SlotState;
use crate::probes::{spawn_prober, store, ProbeEvent, ProbeKind, ProbeSpec};

impl<R: PodRuntime> Worker<R> {
    /// Starts probing every running container that has probes and no prober yet; its
    /// state comes back from disk after an agent restart, so readiness does not flap.
    pub(super) fn ensure_probers(&mut self) {
        let Some(tx) = self.probe_tx.clone() else {
            return;
        };
        if !self.sandbox_ready {
            return;
        }
        let pod_dir = pod_dirs::pod_dir(&self.cfg.root, &self.pod);
        for slot in &mut self.slots {
            let SlotState::Running { started_at, .. } = slot.state else {
                continue;
            };
            let (Some(id), None) = (slot.id.clone(), slot.prober.as_ref()) else {
                continue;
            };
            let c = &slot.spec;
            if c.liveness_probe.is_none()
                && c.readiness_probe.is_none()
                && c.startup_probe.is_none()
            {
                continue;
            }
            let mut spec =
                ProbeSpec::new(c, &id, self.sandbox.pod_ip, SystemTime::from(started_at));
            let file = store::path(&pod_dir, &c.name, slot.attempt);
            let state = store::load_from(&file).unwrap_or_else(|| spec.initial_state());
            spec.state_file = Some(file);
            debug!(container = %c.name, ready = state.ready, "prober started");
            slot.prober = Some(spawn_prober(spec, self.rt.exec_runner(), state, tx.clone()));
        }
    }

    pub(super) fn handle_probe(&mut self, ev: ProbeEvent) {
        let pod_grace = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds);
        let Some(index) = self
            .slots
            .iter()
            .position(|s| s.id.as_deref() == Some(ev.container_id.as_str()))
        else {
            return;
        };
        if !ev.result && !self.slots[index].killing {
            let message = format!("{} probe failed: {}", ev.kind.as_str(), ev.message);
            self.container_event(index, Warning, "Unhealthy", message);
        }
        let slot = &mut self.slots[index];
        let probe = match ev.kind {
            ProbeKind::Liveness => slot.spec.liveness_probe.as_ref(),
            ProbeKind::Startup => slot.spec.startup_probe.as_ref(),
            ProbeKind::Readiness => {
                if ev.changed {
                    info!(container = slot.name(), ready = ev.result, message = %ev.message, "readiness changed");
                }
                return;
            }
        };
        if ev.result || !ev.changed || slot.killing {
            return;
        }
        slot.killing = true;
        info!(container = slot.name(), probe = %ev.kind, message = %ev.message, "probe failed, container will be restarted");
        let grace = probe
            .and_then(|p| p.termination_grace_period_seconds)
            .or(pod_grace)
            .unwrap_or(30);
        let message = format!(
            "Container {} failed {} probe, will be restarted",
            slot.spec.name,
            ev.kind.as_str().to_lowercase()
        );
        self.container_event(index, Normal, "Killing", message);
        let rt = self.rt.clone();
        // Stopping may take the whole grace period: off the worker's loop, which hears the
        // exit and applies the restart policy as for any other exit.
        tokio::spawn(async move {
            if let Err(error) = rt
                .stop_container(&ev.container_id, Duration::from_secs(grace.max(0) as u64))
                .await
            {
                warn!(container = %ev.container_id, %error, "stop after a failed probe");
            }
        });
    }

    pub(super) fn note_oom(&mut self, id: String) {
        if self
            .slots
            .iter()
            .any(|s| s.id.as_deref() == Some(id.as_str()))
        {
            info!(container = %id, "container hit its memory limit");
            self.ooms.insert(id);
        }
    }
}
