//! One pod's worker: makes the pod's containers run as its spec and restart policy say,
//! reports status, and tears everything down when the pod goes away.
//!
//! Contract: `run` returns only after teardown, when nothing of the pod is left on the
//! node (containers, snapshots, sandbox, log directory).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tracing::{info, info_span, warn, Instrument};

use super::pod_runtime::{
    ContainerConfig, FoundContainer, FoundState, ImageFailure, PodRuntime, RuntimeEvent,
    SandboxInfo,
};
use super::slot::{Slot, SlotState, Terminated, READY_SETTLE};
use super::{pod_key, StatusStore, WorkerConfig};
use crate::pod_dirs;
use crate::probes::ProbeEvent;
use events::{Normal, Warning};

mod env;
mod events;
mod probing;
mod status;
mod volumes;

const SANDBOX_RETRY: Duration = Duration::from_secs(2);
/// Volume set-up retries: soon at first (an object just being created), then less often.
const VOLUME_RETRY_BASE: Duration = Duration::from_secs(1);
const VOLUME_RETRY_MAX: Duration = Duration::from_secs(16);
/// How long `ErrImagePull` shows before it reads `ImagePullBackOff`.
const PULL_ERROR_SHOWN: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub enum Command {
    /// Stop the pod; with the seconds its containers get to stop when the control plane
    /// deleted it with a grace period of its own (else its terminationGracePeriodSeconds).
    Terminate(Option<i64>),
}

pub struct Worker<R: PodRuntime> {
    pod: Pod,
    rt: Arc<R>,
    cfg: Arc<WorkerConfig>,
    store: StatusStore,
    slots: Vec<Slot>,
    sandbox_ready: bool,
    sandbox_error: Option<String>,
    sandbox_retry: Option<Instant>,
    /// Exits found while adopting, handled once the loop starts.
    pending_exits: Vec<(String, i32, Option<i64>)>,
    /// Containers of earlier attempts found at adoption: removed at start.
    garbage: Vec<String>,
    started_at: Timestamp,
    /// Set for orphans: tear down at once, start nothing.
    terminating: bool,
    sandbox: SandboxInfo,
    /// Where probers report; set once the worker runs.
    probe_tx: Option<mpsc::Sender<ProbeEvent>>,
    /// Containers the OOM killer hit, until their exit is handled.
    ooms: std::collections::HashSet<String>,
    /// The pod's volumes, once set up (`volumes.rs`).
    volumes: Option<crate::volumes::PodVolumes>,
    volume_retry: Option<Instant>,
    volume_backoff: super::backoff::Backoff,
    /// When emptyDirs with a `sizeLimit` are measured next.
    usage_check: Option<Instant>,
    /// Why the pod was evicted; nothing starts again.
    evicted: Option<String>,
    /// Our place in the node's start queue while a sync pass has work to do.
    admitted: Option<super::start_queue::Admitted>,
}

impl<R: PodRuntime> Worker<R> {
    pub fn new(
        pod: Pod,
        rt: Arc<R>,
        cfg: Arc<WorkerConfig>,
        store: StatusStore,
        found: Vec<FoundContainer>,
    ) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        let (base, max) = (cfg.backoff_base, cfg.backoff_max);
        let mut slots: Vec<Slot> = spec
            .init_containers
            .unwrap_or_default()
            .into_iter()
            .map(|c| Slot::new(c, true, base, max))
            .collect();
        let has_init = !slots.is_empty();
        slots.extend(spec.containers.into_iter().map(|c| {
            let mut slot = Slot::new(c, false, base, max);
            if has_init {
                // As the kubelet reports app containers while init containers run.
                slot.wait("PodInitializing", "");
            }
            slot
        }));
        let mut w = Self {
            pod,
            rt,
            cfg,
            store,
            slots,
            sandbox_ready: false,
            sandbox_error: None,
            sandbox_retry: None,
            pending_exits: Vec::new(),
            garbage: Vec::new(),
            started_at: Timestamp::now(),
            terminating: false,
            sandbox: SandboxInfo::default(),
            probe_tx: None,
            ooms: Default::default(),
            volumes: None,
            volume_retry: None,
            volume_backoff: super::backoff::Backoff::new(VOLUME_RETRY_BASE, VOLUME_RETRY_MAX),
            usage_check: None,
            evicted: None,
            admitted: None,
        };
        w.adopt(found);
        w
    }

    /// A worker that only tears down what it adopted (a pod no source wants any more).
    pub fn orphan(mut self) -> Self {
        self.terminating = true;
        self
    }

    /// Takes over containers a previous agent started: the newest attempt of each
    /// container is kept (running, or its exit replayed); older ones are garbage. The
    /// sandbox is "created" again as usual, which reuses the namespaces still mounted.
    fn adopt(&mut self, mut found: Vec<FoundContainer>) {
        found.sort_by_key(|c| std::cmp::Reverse(c.attempt));
        for c in found {
            let Some(slot) = self
                .slots
                .iter_mut()
                .find(|s| s.spec.name == c.container_name && s.id.is_none())
            else {
                self.garbage.push(c.id);
                continue;
            };
            slot.attempt = c.attempt;
            match c.state {
                FoundState::Running { pid } => {
                    let started_at = c
                        .created_at
                        .and_then(|s| Timestamp::from_second(s).ok())
                        .unwrap_or_else(Timestamp::now);
                    slot.state = SlotState::Running { pid, started_at };
                    slot.id = Some(c.id);
                }
                FoundState::Exited {
                    exit_code,
                    finished_at,
                } => {
                    let started_at = c
                        .created_at
                        .and_then(|s| Timestamp::from_second(s).ok())
                        .unwrap_or_else(Timestamp::now);
                    slot.state = SlotState::Running { pid: 0, started_at };
                    self.pending_exits
                        .push((c.id.clone(), exit_code, finished_at));
                    slot.id = Some(c.id);
                }
                FoundState::Dead => {
                    self.garbage.push(c.id);
                    slot.attempt += 1;
                }
            }
        }
    }

    pub async fn run(
        mut self,
        mut cmds: mpsc::Receiver<Command>,
        mut events: broadcast::Receiver<RuntimeEvent>,
    ) {
        let span = info_span!("pod", pod = %pod_key(&self.pod));
        async move {
            let (probe_tx, mut probe_rx) = mpsc::channel(64);
            self.probe_tx = Some(probe_tx);
            for id in std::mem::take(&mut self.garbage) {
                let _ = self.rt.remove_container(&id).await;
            }
            if !self.terminating {
                for (id, code, at) in std::mem::take(&mut self.pending_exits) {
                    self.handle_exit(&id, code, at).await;
                }
            }
            while !self.terminating {
                self.sync().await;
                self.publish();
                let wake = self.next_wake();
                tokio::select! {
                    cmd = cmds.recv() => match cmd {
                        Some(Command::Terminate(grace)) => {
                            if let Some(seconds) = grace {
                                let spec = self.pod.spec.get_or_insert_with(Default::default);
                                spec.termination_grace_period_seconds = Some(seconds);
                            }
                            self.terminating = true;
                        }
                        None => self.terminating = true,
                    },
                    ev = events.recv() => match ev {
                        Ok(RuntimeEvent::Exited { id, exit_code, finished_at }) => self.handle_exit(&id, exit_code, finished_at).await,
                        Ok(RuntimeEvent::Oom { id }) => self.note_oom(id),
                        Ok(RuntimeEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => self.resync().await,
                        Err(broadcast::error::RecvError::Closed) => self.terminating = true,
                    },
                    Some(ev) = probe_rx.recv() => self.handle_probe(ev),
                    _ = sleep_until(wake) => {}
                }
            }
            self.teardown().await;
        }
        .instrument(span)
        .await
    }

    fn next_wake(&self) -> Option<Instant> {
        let now = Instant::now();
        let slot_times = self
            .slots
            .iter()
            .filter(|s| !s.done)
            .flat_map(|s| [s.next_try, s.relabel_at, s.ready_at.filter(|t| *t > now)])
            .flatten();
        slot_times
            .chain(self.sandbox_retry)
            .chain(self.volume_retry)
            .chain(self.usage_check)
            .min()
    }

    /// Starts whatever is due, in its turn in the node's start queue.
    async fn sync(&mut self) {
        let now = Instant::now();
        let sandbox_due = !self.sandbox_ready && self.sandbox_retry.is_none_or(|t| t <= now);
        if sandbox_due || self.slots.iter().any(|s| s.due(now)) {
            self.admitted = Some(self.cfg.start_queue.admit().await);
        }
        self.sync_due().await;
        self.admitted = None;
    }

    /// Starts whatever is due: the sandbox, then init containers in order, then the app.
    async fn sync_due(&mut self) {
        let now = Instant::now();
        let mut backing_off = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.relabel_at.is_some_and(|t| t <= now) {
                slot.relabel_at = None;
                if matches!(&slot.state, SlotState::Waiting { reason, .. } if reason == "ErrImagePull")
                {
                    let message = match &slot.state {
                        SlotState::Waiting { message, .. } => message.clone(),
                        _ => String::new(),
                    };
                    slot.wait(
                        "ImagePullBackOff",
                        format!(
                            "Back-off pulling image {:?}: {message}",
                            slot.spec.image.as_deref().unwrap_or("")
                        ),
                    );
                    backing_off.push(i);
                }
            }
        }
        for i in backing_off {
            let image = self.slots[i].spec.image.clone().unwrap_or_default();
            let message = format!("Back-off pulling image {image:?}");
            self.container_event(i, Normal, "BackOff", message);
            self.error_event(i, "ImagePullBackOff");
        }
        if !self.sandbox_ready {
            if self.sandbox_retry.is_some_and(|t| t > now) {
                return;
            }
            match self.rt.create_sandbox(&self.pod).await {
                Ok(info) => {
                    self.sandbox = info;
                    self.sandbox_ready = true;
                    self.sandbox_error = None;
                    self.sandbox_retry = None;
                }
                Err(error) => {
                    warn!(%error, "sandbox creation failed");
                    let message = format!("Failed to create pod sandbox: {error}");
                    self.pod_event(Warning, "FailedCreatePodSandBox", message);
                    for slot in &mut self.slots {
                        if matches!(&slot.state, SlotState::Waiting { reason, .. } if reason == "ContainerCreating")
                        {
                            slot.wait("ContainerCreating", format!("pod sandbox: {error}"));
                        }
                    }
                    self.sandbox_error = Some(error);
                    self.sandbox_retry = Some(now + SANDBOX_RETRY);
                    return;
                }
            }
        }
        if !self.ensure_volumes(now).await {
            return;
        }
        self.check_volume_usage(now);
        if self.evicted.is_some() {
            return;
        }
        self.ensure_probers();
        self.stop_sidecars_when_app_done();
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            if !slot.is_init {
                if slot.due(now) {
                    self.start(i).await;
                }
                continue;
            }
            if slot.is_sidecar() {
                if slot.due(now) {
                    self.start(i).await;
                }
                if !self.slots[i].is_running() {
                    return;
                }
            } else if !slot.succeeded() {
                if slot.due(now) {
                    self.start(i).await;
                }
                return;
            }
        }
    }

    /// As the kubelet does for native sidecars: once every app container has finished
    /// for good, the sidecars are stopped (with the pod's grace period) and stay stopped,
    /// so they never keep a finished pod alive.
    fn stop_sidecars_when_app_done(&mut self) {
        let mut app = self.slots.iter().filter(|s| !s.is_init).peekable();
        if app.peek().is_none() || !app.all(|s| s.done) {
            return;
        }
        self.stop_for_good(
            |s| s.is_sidecar() && !s.done,
            "app finished, stopping sidecar",
        );
    }

    /// Marks the slots `pick` selects done, last first, and stops those running with the
    /// pod's grace period; none of them starts again.
    fn stop_for_good(&mut self, pick: impl Fn(&Slot) -> bool, why: &'static str) {
        let grace = self.grace();
        for slot in self.slots.iter_mut().rev().filter(|s| pick(s)) {
            slot.done = true;
            slot.next_try = None;
            slot.prober = None;
            let (true, Some(id)) = (slot.is_running(), slot.id.clone()) else {
                continue;
            };
            info!(
                container = slot.name(),
                reason = why,
                "stopping a container for good"
            );
            let rt = self.rt.clone();
            tokio::spawn(async move {
                if let Err(error) = rt.stop_container(&id, grace).await {
                    warn!(container = %id, %error, "stopping a container");
                }
            });
        }
    }

    /// The pod's `terminationGracePeriodSeconds` (default 30).
    fn grace(&self) -> Duration {
        Duration::from_secs(
            self.pod
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(0) as u64,
        )
    }

    async fn start(&mut self, i: usize) {
        let now = Instant::now();
        let policy = self.slots[i]
            .spec
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| "IfNotPresent".into());
        let image_ref = self.slots[i].spec.image.clone().unwrap_or_default();
        let present = policy != "Always" && self.rt.image_present(&image_ref).await;
        if !present && policy != "Never" {
            // A pull waits on the network: let other pods start meanwhile.
            self.admitted = None;
            let message = format!("Pulling image {image_ref:?}");
            self.container_event(i, Normal, "Pulling", message);
        }
        let pull_started = std::time::Instant::now();
        let image = match self.rt.ensure_image(&image_ref, &policy).await {
            Ok(image) => {
                if present {
                    let message =
                        format!("Container image {image_ref:?} already present on machine");
                    self.container_event(i, Normal, "Pulled", message);
                } else {
                    self.pulled_event(i, &image_ref, pull_started.elapsed(), image.size);
                }
                image
            }
            Err(failure) => {
                let slot = &mut self.slots[i];
                let delay = slot.pull_backoff.next_delay();
                let (reason, message) = match failure {
                    ImageFailure::Pull(m) => ("ErrImagePull", m),
                    ImageFailure::NeverPull(m) => ("ErrImageNeverPull", m),
                    ImageFailure::InvalidName(m) => ("InvalidImageName", m),
                };
                warn!(container = slot.name(), reason, error = %message, retry_in = ?delay, "image not ready");
                slot.wait(reason, message.clone());
                slot.next_try = Some(now + delay);
                if reason == "ErrImagePull" {
                    slot.relabel_at = Some(now + PULL_ERROR_SHOWN.min(delay));
                }
                let event = match reason {
                    "ErrImagePull" => ("Failed", format!("Failed to pull image {image_ref:?}: {message}")),
                    "ErrImageNeverPull" => (
                        "ErrImageNeverPull",
                        format!("Container image {image_ref:?} is not present with pull policy of Never"),
                    ),
                    _ => ("InspectFailed", format!("Failed to apply default image tag {image_ref:?}: {message}")),
                };
                self.container_event(i, Warning, event.0, event.1);
                self.error_event(i, reason);
                return;
            }
        };
        if self.admitted.is_none() {
            // Back in line after the pull.
            self.admitted = Some(self.cfg.start_queue.admit().await);
        }
        let slot = &mut self.slots[i];
        slot.pull_backoff.reset();
        slot.relabel_at = None;
        slot.image = Some(image.clone());
        let Some(env) = self.resolve_env(i).await else {
            return;
        };
        let slot = &mut self.slots[i];
        let log = pod_dirs::log_path(&self.cfg.root, &self.pod, &slot.spec.name, slot.attempt);
        let mounts = match self.container_mounts(&self.slots[i].spec, &env) {
            Ok(mounts) => mounts,
            Err(error) => {
                self.config_error(i, error);
                return;
            }
        };
        let slot = &mut self.slots[i];
        let config = ContainerConfig { env, mounts };
        match self
            .rt
            .start_container(&self.pod, &slot.spec, &image, slot.attempt, &log, &config)
            .await
        {
            Ok((id, pid)) => {
                info!(container = slot.name(), attempt = slot.attempt, %id, pid, "container started");
                let name = slot.spec.name.clone();
                slot.id = Some(id);
                slot.next_try = None;
                slot.state = SlotState::Running {
                    pid,
                    started_at: Timestamp::now(),
                };
                slot.killing = false;
                slot.ready_at = slot
                    .spec
                    .readiness_probe
                    .is_none()
                    .then(|| Instant::now() + READY_SETTLE);
                self.container_event(i, Normal, "Created", format!("Created container: {name}"));
                self.container_event(i, Normal, "Started", format!("Started container {name}"));
                self.ensure_probers();
            }
            Err(error) => {
                let delay = slot.crash_backoff.next_delay();
                warn!(container = slot.name(), %error, retry_in = ?delay, "container start failed");
                slot.wait("RunContainerError", error.clone());
                slot.next_try = Some(now + delay);
                self.container_event(i, Warning, "Failed", format!("Error: {error}"));
            }
        }
    }

    async fn handle_exit(&mut self, id: &str, exit_code: i32, finished_at: Option<i64>) {
        let Some(index) = self.slots.iter().position(|s| s.id.as_deref() == Some(id)) else {
            return;
        };
        let slot = &mut self.slots[index];
        let SlotState::Running { started_at, .. } = slot.state else {
            return;
        };
        let finished = finished_at
            .and_then(|s| Timestamp::from_second(s).ok())
            .unwrap_or_else(Timestamp::now);
        slot.prober = None;
        let uid = self.pod.metadata.uid.as_deref().unwrap_or_default();
        let oom = self.ooms.remove(id) || self.rt.oom_killed(uid, id);
        let reason = match (oom, exit_code) {
            (true, _) => "OOMKilled",
            (false, 0) => "Completed",
            (false, _) => "Error",
        };
        let term = Terminated {
            exit_code,
            reason: reason.into(),
            started_at: Some(started_at),
            finished_at: finished,
            container_id: id.to_string(),
        };
        info!(
            container = slot.name(),
            attempt = slot.attempt,
            exit_code,
            reason,
            "container exited"
        );
        let policy = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        // A sidecar stopped because the app finished is done, whatever its policy says.
        if slot.done || !slot.restarts_after(&policy, exit_code) {
            slot.done = true;
            slot.state = SlotState::Terminated(term);
            return;
        }
        let ran_for = finished.duration_since(started_at).unsigned_abs();
        if ran_for >= self.cfg.backoff_reset {
            slot.crash_backoff.reset();
        }
        let delay = slot.crash_backoff.next_restart_delay();
        slot.id = None;
        slot.last_terminated = Some(term);
        slot.attempt += 1;
        slot.next_try = Some(Instant::now() + delay);
        if delay.is_zero() {
            slot.wait("ContainerCreating", "");
        } else {
            let pod = self.pod.metadata.name.as_deref().unwrap_or("");
            let message = format!(
                "back-off {}s restarting failed container={} pod={pod}",
                delay.as_secs(),
                slot.spec.name
            );
            slot.wait("CrashLoopBackOff", message);
            let meta = &self.pod.metadata;
            let message = format!(
                "Back-off restarting failed container {} in pod {pod}_{}({})",
                self.slots[index].spec.name,
                meta.namespace.as_deref().unwrap_or("default"),
                meta.uid.as_deref().unwrap_or_default(),
            );
            self.container_event(index, Warning, "BackOff", message);
        }
        // The exit is reported before the (slow) removal: a crashed container must not
        // look Ready meanwhile, or a rollout counts it available.
        self.publish();
        let _ = self.rt.remove_container(id).await;
    }

    /// Events may have been missed: ask the runtime about every container we think runs.
    async fn resync(&mut self) {
        let running: Vec<String> = self
            .slots
            .iter()
            .filter(|s| s.is_running())
            .filter_map(|s| s.id.clone())
            .collect();
        for id in running {
            match self.rt.inspect_container(&id).await {
                Ok(Some(FoundContainer {
                    state:
                        FoundState::Exited {
                            exit_code,
                            finished_at,
                        },
                    ..
                })) => self.handle_exit(&id, exit_code, finished_at).await,
                Ok(Some(FoundContainer {
                    state: FoundState::Running { .. },
                    ..
                })) => {}
                Ok(_) => self.handle_exit(&id, 137, None).await,
                Err(error) => warn!(container = %id, %error, "cannot inspect container"),
            }
        }
    }

    async fn teardown(&mut self) {
        for slot in &mut self.slots {
            slot.prober = None;
        }
        let grace = self.grace();
        let mut pod = self.pod.clone();
        pod.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        pod.status = Some(self.status());
        self.store.put(pod);
        for i in 0..self.slots.len() {
            if self.slots[i].is_running() && self.slots[i].id.is_some() {
                let message = format!("Stopping container {}", self.slots[i].spec.name);
                self.container_event(i, Normal, "Killing", message);
            }
        }
        let ids: Vec<String> = self.slots.iter().filter_map(|s| s.id.clone()).collect();
        let rt = &self.rt;
        let stops = ids.iter().map(|id| async move {
            if let Err(error) = rt.stop_container(id, grace).await {
                warn!(container = %id, %error, "stop failed");
            }
            if let Err(error) = rt.remove_container(id).await {
                warn!(container = %id, %error, "remove failed");
            }
        });
        futures::future::join_all(stops).await;
        self.teardown_volumes();
        let uid = self.pod.metadata.uid.clone().unwrap_or_default();
        if let Err(error) = self.rt.remove_sandbox(&uid).await {
            warn!(%error, "sandbox removal failed");
        }
        let dir = pod_dirs::pod_dir(&self.cfg.root, &self.pod);
        if let Err(error) = std::fs::remove_dir_all(&dir) {
            if error.kind() != std::io::ErrorKind::NotFound {
                warn!(dir = %dir.display(), %error, "cannot remove pod dir");
            }
        }
        self.store.remove(&uid);
        info!("pod removed");
    }

    fn publish(&self) {
        let mut pod = self.pod.clone();
        pod.spec
            .get_or_insert_with(Default::default)
            .node_name
            .get_or_insert_with(|| self.cfg.node_name.clone());
        pod.status = Some(self.status());
        self.store.put(pod);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
