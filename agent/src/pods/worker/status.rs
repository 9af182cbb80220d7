//! The pod's status as the kubelet reports it: phase, conditions, addresses, containers.

use k8s_openapi::api::core::v1::{HostIP, PodCondition, PodIP, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::Worker;
use crate::pods::pod_runtime::PodRuntime;
use crate::pods::slot::Slot;

impl<R: PodRuntime> Worker<R> {
    pub(super) fn status(&self) -> PodStatus {
        let (init, app): (Vec<&Slot>, Vec<&Slot>) = self.slots.iter().partition(|s| s.is_init);
        // A sidecar stopped at the end of the pod is not a failed init container.
        let init_failed = init
            .iter()
            .any(|s| !s.is_sidecar() && s.done && !s.succeeded());
        let initialized = init
            .iter()
            .all(|s| s.succeeded() || (s.is_sidecar() && (s.is_running() || s.done)));
        let app_done = app.iter().all(|s| s.done);
        let phase = if init_failed || (app_done && app.iter().any(|s| !s.succeeded())) {
            "Failed"
        } else if app_done {
            "Succeeded"
        } else if initialized && app.iter().all(|s| s.has_started()) {
            "Running"
        } else {
            "Pending"
        };
        // An evicted pod is Failed whatever its containers did (`volumes.rs`).
        let phase = if self.evicted.is_some() {
            "Failed"
        } else {
            phase
        };
        let ready = phase == "Running" && app.iter().all(|s| s.is_ready());
        let cond = |type_: &str, ok: bool| PodCondition {
            type_: type_.into(),
            status: if ok { "True" } else { "False" }.into(),
            ..Default::default()
        };
        let mut conditions = vec![
            cond("PodScheduled", true),
            cond("Initialized", initialized),
            cond("ContainersReady", ready),
            cond("Ready", ready),
        ];
        if let Some(error) = &self.sandbox_error {
            conditions.push(PodCondition {
                message: Some(error.clone()),
                reason: Some("SandboxFailed".into()),
                ..cond("PodReadyToStartContainers", false)
            });
        }
        PodStatus {
            phase: Some(phase.into()),
            conditions: Some(conditions),
            start_time: Some(Time(self.started_at)),
            init_container_statuses: (!init.is_empty())
                .then(|| init.iter().map(|s| s.status()).collect()),
            container_statuses: Some(app.iter().map(|s| s.status()).collect()),
            host_ip: self.sandbox.host_ip.map(|ip| ip.to_string()),
            host_ips: self
                .sandbox
                .host_ip
                .map(|ip| vec![HostIP { ip: ip.to_string() }]),
            pod_ip: self.sandbox.pod_ip.map(|ip| ip.to_string()),
            pod_ips: self
                .sandbox
                .pod_ip
                .map(|ip| vec![PodIP { ip: ip.to_string() }]),
            reason: self.evicted.as_ref().map(|_| "Evicted".to_string()),
            message: self.evicted.clone(),
            ..Default::default()
        }
    }
}
