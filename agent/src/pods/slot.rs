//! One container of a pod, as the worker tracks it: the kubelet's container state machine
//! (Waiting → Running → Terminated → Waiting(CrashLoopBackOff) → …) and its status.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::pod_runtime::ReadyImage;
use crate::probes::ProberHandle;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    pub container_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    Waiting { reason: String, message: String },
    Running { pid: u32, started_at: Timestamp },
    Terminated(Terminated),
}

pub struct Slot {
    pub spec: Container,
    pub is_init: bool,
    /// The attempt of the current container, which is also its restart count.
    pub attempt: u32,
    pub id: Option<String>,
    pub state: SlotState,
    pub last_terminated: Option<Terminated>,
    pub image: Option<ReadyImage>,
    /// When a waiting container may be tried again.
    pub next_try: Option<Instant>,
    /// When `ErrImagePull` turns into `ImagePullBackOff`, as `kubectl get` shows it.
    pub relabel_at: Option<Instant>,
    pub crash_backoff: Backoff,
    pub pull_backoff: Backoff,
    /// Ended and will not run again under the pod's restart policy.
    pub done: bool,
    /// Probes of the running container, if it declares any.
    pub prober: Option<ProberHandle>,
    /// A failed liveness or startup probe is having the container stopped.
    pub killing: bool,
    /// Until then a just-started container without a readiness probe is not yet ready,
    /// so one that exits at once is never reported ready (and counted available). The
    /// kubelet gets the same from noticing containers through its periodic relist.
    pub ready_at: Option<Instant>,
}

/// How long a container without a readiness probe must have run to count as ready.
pub const READY_SETTLE: Duration = Duration::from_millis(100);

impl Slot {
    pub fn new(spec: Container, is_init: bool, base: Duration, max: Duration) -> Self {
        Self {
            spec,
            is_init,
            attempt: 0,
            id: None,
            state: SlotState::Waiting {
                reason: "ContainerCreating".into(),
                message: String::new(),
            },
            last_terminated: None,
            image: None,
            next_try: None,
            relabel_at: None,
            crash_backoff: Backoff::new(base, max),
            pull_backoff: Backoff::new(base, max),
            done: false,
            prober: None,
            killing: false,
            ready_at: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// A native sidecar: an init container that keeps running beside the app.
    pub fn is_sidecar(&self) -> bool {
        self.is_init && self.spec.restart_policy.as_deref() == Some("Always")
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, SlotState::Running { .. })
    }

    /// Running, started and passing readiness (when it has probes).
    pub fn is_ready(&self) -> bool {
        self.is_running()
            && self.ready_at.is_none_or(|t| t <= Instant::now())
            && self.prober.as_ref().is_none_or(|p| p.state().ready)
    }

    fn is_started(&self) -> bool {
        self.is_running() && self.prober.as_ref().is_none_or(|p| p.state().started)
    }

    pub fn succeeded(&self) -> bool {
        matches!(&self.state, SlotState::Terminated(t) if t.exit_code == 0)
    }

    /// Waiting, and its backoff (if any) is over.
    pub fn due(&self, now: Instant) -> bool {
        !self.done
            && matches!(self.state, SlotState::Waiting { .. })
            && self.next_try.is_none_or(|t| t <= now)
    }

    /// Ever started a container (so the pod counts as Running, not Pending).
    pub fn has_started(&self) -> bool {
        self.attempt > 0 || !matches!(self.state, SlotState::Waiting { .. })
    }

    pub fn wait(&mut self, reason: &str, message: impl Into<String>) {
        self.state = SlotState::Waiting {
            reason: reason.into(),
            message: message.into(),
        };
    }

    /// Whether the restart policy runs this container again after `exit_code`.
    pub fn restarts_after(&self, pod_policy: &str, exit_code: i32) -> bool {
        if self.is_sidecar() {
            return true;
        }
        match (self.is_init, pod_policy) {
            (_, "Never") => false,
            (true, _) | (false, "OnFailure") => exit_code != 0,
            _ => true,
        }
    }

    pub fn status(&self) -> ContainerStatus {
        ContainerStatus {
            name: self.spec.name.clone(),
            image: self
                .image
                .as_ref()
                .map(|i| i.name.clone())
                .unwrap_or_else(|| self.spec.image.clone().unwrap_or_default()),
            image_id: self
                .image
                .as_ref()
                .map(|i| i.digest.clone())
                .unwrap_or_default(),
            container_id: self.id.as_ref().map(|id| format!("containerd://{id}")),
            ready: self.is_ready(),
            started: Some(self.is_started()),
            restart_count: self.attempt as i32,
            state: Some(to_k8s(&self.state)),
            last_state: self
                .last_terminated
                .as_ref()
                .map(|t| to_k8s(&SlotState::Terminated(t.clone()))),
            ..Default::default()
        }
    }
}

fn to_k8s(state: &SlotState) -> ContainerState {
    match state {
        SlotState::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.clone()),
                message: (!message.is_empty()).then(|| message.clone()),
            }),
            ..Default::default()
        },
        SlotState::Running { started_at, .. } => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(*started_at)),
            }),
            ..Default::default()
        },
        SlotState::Terminated(t) => ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: t.exit_code,
                reason: Some(t.reason.clone()),
                started_at: t.started_at.map(Time),
                finished_at: Some(Time(t.finished_at)),
                container_id: Some(format!("containerd://{}", t.container_id)),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(init: bool, policy: Option<&str>) -> Slot {
        let spec = Container {
            name: "c".into(),
            restart_policy: policy.map(String::from),
            ..Default::default()
        };
        Slot::new(
            spec,
            init,
            Duration::from_secs(10),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn restart_policy_table() {
        let app = slot(false, None);
        assert!(app.restarts_after("Always", 0));
        assert!(app.restarts_after("Always", 1));
        assert!(!app.restarts_after("OnFailure", 0));
        assert!(app.restarts_after("OnFailure", 3));
        assert!(!app.restarts_after("Never", 3));
        let init = slot(true, None);
        assert!(!init.restarts_after("Always", 0));
        assert!(init.restarts_after("Always", 1));
        assert!(!init.restarts_after("Never", 1));
        assert!(slot(true, Some("Always")).restarts_after("Never", 0));
    }
}
