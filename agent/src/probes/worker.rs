//! The prober of one container attempt: runs its liveness, readiness and startup probes on
//! their own schedules, counts results against the thresholds and reports transitions.
//!
//! Semantics follow the kubelet: probes start `initialDelaySeconds` after the container
//! started; a startup probe holds the other two back until it passes; readiness starts
//! false, liveness and startup start passing; a probe that could not run (an `Error`) is
//! not counted. Once liveness or startup fails the prober stops: the pod worker restarts
//! the container and starts a new prober for the next attempt.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use k8s_openapi::api::core::v1::{Container, ContainerPort, Probe};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, info_span, warn, Instrument};

use super::check::{check, ExecRunner, ProbeOutcome, ProbeTarget};
use super::state::{Failed, ProbeState, Timing};
use super::{store, ProbeKind};

/// The kubelet runs a probe that errored up to this many times before giving up on the
/// period.
const ERROR_RETRIES: usize = 3;
/// Grace beyond a probe's own timeout before an attempt that hangs is abandoned.
const ATTEMPT_SLACK: Duration = Duration::from_secs(10);

/// What to probe, for one attempt of one container.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub container: String,
    pub container_id: String,
    pub liveness: Option<Probe>,
    pub readiness: Option<Probe>,
    pub startup: Option<Probe>,
    pub ports: Vec<ContainerPort>,
    pub pod_ip: Option<IpAddr>,
    /// When the container started: initial delays count from here.
    pub started_at: SystemTime,
    /// Where the state is saved on every change ([`store::path`]); None keeps it in memory.
    pub state_file: Option<PathBuf>,
}

impl ProbeSpec {
    /// The probes and ports of `container` as the pod spec declares them.
    pub fn new(
        container: &Container,
        container_id: &str,
        pod_ip: Option<IpAddr>,
        started_at: SystemTime,
    ) -> Self {
        Self {
            container: container.name.clone(),
            container_id: container_id.into(),
            liveness: container.liveness_probe.clone(),
            readiness: container.readiness_probe.clone(),
            startup: container.startup_probe.clone(),
            ports: container.ports.clone().unwrap_or_default(),
            pod_ip,
            started_at,
            state_file: None,
        }
    }

    /// The state of a container that just started (use the saved one after a restart).
    pub fn initial_state(&self) -> ProbeState {
        ProbeState::fresh(self.readiness.is_some(), self.startup.is_some())
    }
}

/// A change of a probe's result: `Readiness` true/false, `Startup` true (started) or
/// false (failed: restart), `Liveness` false (failed: restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEvent {
    pub container: String,
    /// The attempt this is about, so a late event of an old attempt can be ignored.
    pub container_id: String,
    pub kind: ProbeKind,
    pub result: bool,
    /// The probe's output or failure reason.
    pub message: String,
    /// Whether the result changed the probe's verdict (readiness flipped, the container
    /// started, or it must restart); false for a failed attempt below the threshold,
    /// sent so each failure can be an `Unhealthy` event, as the kubelet records them.
    pub changed: bool,
}

/// The running prober; dropping it (or [`ProberHandle::stop`]) cancels it.
pub struct ProberHandle {
    task: JoinHandle<()>,
    state: watch::Receiver<ProbeState>,
}

impl ProberHandle {
    /// The current state, for the container's `ready` and `started`.
    pub fn state(&self) -> ProbeState {
        self.state.borrow().clone()
    }

    /// Follows the state as it changes.
    pub fn watch(&self) -> watch::Receiver<ProbeState> {
        self.state.clone()
    }

    /// True once the prober stopped by itself (liveness/startup failed, or no probes).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    pub fn stop(self) {}
}

impl Drop for ProberHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts probing on the current Tokio runtime, from `state` (fresh, or loaded from disk
/// after an agent restart).
pub fn spawn_prober(
    spec: ProbeSpec,
    exec: Arc<dyn ExecRunner>,
    state: ProbeState,
    events: mpsc::Sender<ProbeEvent>,
) -> ProberHandle {
    let (state_tx, state_rx) = watch::channel(state.clone());
    let since_start = SystemTime::now()
        .duration_since(spec.started_at)
        .unwrap_or_default();
    let now = Instant::now();
    let start = now.checked_sub(since_start).unwrap_or(now);
    let slot = |kind, probe: &Option<Probe>| {
        probe.as_ref().map(|p| {
            let timing = Timing::of(p);
            Slot {
                kind,
                probe: Arc::new(p.clone()),
                timing,
                first: start + timing.initial_delay,
                next: None,
                busy: false,
            }
        })
    };
    let slots = [
        slot(ProbeKind::Startup, &spec.startup),
        slot(ProbeKind::Liveness, &spec.liveness),
        slot(ProbeKind::Readiness, &spec.readiness),
    ]
    .into_iter()
    .flatten()
    .collect();
    let span = info_span!("prober", container = %spec.container, id = %spec.container_id);
    let prober = Prober {
        target: Arc::new(ProbeTarget {
            container_id: spec.container_id.clone(),
            pod_ip: spec.pod_ip,
            ports: spec.ports.clone(),
        }),
        saved: state.clone(),
        state,
        spec,
        exec,
        slots,
        state_tx,
        events,
    };
    ProberHandle {
        task: tokio::spawn(prober.run().instrument(span)),
        state: state_rx,
    }
}

struct Slot {
    kind: ProbeKind,
    probe: Arc<Probe>,
    timing: Timing,
    /// Container start plus the initial delay.
    first: Instant,
    /// When the next attempt is due; None while the probe is held back.
    next: Option<Instant>,
    busy: bool,
}

struct Prober {
    spec: ProbeSpec,
    target: Arc<ProbeTarget>,
    exec: Arc<dyn ExecRunner>,
    slots: Vec<Slot>,
    state: ProbeState,
    saved: ProbeState,
    state_tx: watch::Sender<ProbeState>,
    events: mpsc::Sender<ProbeEvent>,
}

type Attempt = BoxFuture<'static, (ProbeKind, ProbeOutcome)>;

impl Prober {
    async fn run(mut self) {
        if let Some(failed) = self.state.failed.clone() {
            // Failed before an agent restart: say it again, the restart may not have happened.
            self.emit(failed.kind, false, failed.message, true).await;
            return;
        }
        self.schedule(Instant::now());
        let mut inflight: FuturesUnordered<Attempt> = FuturesUnordered::new();
        loop {
            let now = Instant::now();
            for slot in &mut self.slots {
                if !slot.busy && slot.next.is_some_and(|t| t <= now) {
                    slot.busy = true;
                    slot.next = Some(now + slot.timing.period);
                    inflight.push(attempt(slot, &self.target, &self.exec));
                }
            }
            let wake = self
                .slots
                .iter()
                .filter(|s| !s.busy)
                .filter_map(|s| s.next)
                .min();
            if inflight.is_empty() && wake.is_none() {
                debug!("nothing left to probe");
                return;
            }
            tokio::select! {
                Some((kind, outcome)) = inflight.next() => {
                    if !self.handle(kind, outcome).await {
                        return;
                    }
                }
                _ = sleep_until(wake) => {}
            }
        }
    }

    /// Lets the probes that may run now run: only startup until the container started.
    fn schedule(&mut self, now: Instant) {
        let started = self.state.started;
        for slot in &mut self.slots {
            let eligible = (slot.kind == ProbeKind::Startup) != started;
            if !eligible {
                slot.next = None;
            } else if slot.next.is_none() {
                slot.next = Some(slot.first.max(now));
            }
        }
    }

    /// Counts one outcome; false when the prober is done.
    async fn handle(&mut self, kind: ProbeKind, outcome: ProbeOutcome) -> bool {
        let Some(slot) = self.slots.iter_mut().find(|s| s.kind == kind) else {
            return true;
        };
        slot.busy = false;
        let timing = slot.timing;
        if let ProbeOutcome::Error(error) = &outcome {
            warn!(probe = %kind, %error, "probe errored, not counted");
            return true;
        }
        let passed = outcome.passed();
        if !passed {
            debug!(probe = %kind, output = %outcome.message(), "probe failed");
        }
        let reached = self.state.counters_mut(kind).record(passed, &timing);
        let message = outcome.message().to_string();
        let mut changes = Vec::new();
        let mut done = false;
        match kind {
            ProbeKind::Readiness if reached && self.state.ready != passed => {
                self.state.ready = passed;
                changes.push((kind, passed));
            }
            ProbeKind::Startup if reached && passed => {
                self.state.started = true;
                changes.push((kind, true));
                if !self.slots.iter().any(|s| s.kind == ProbeKind::Readiness) {
                    self.state.ready = true;
                    changes.push((ProbeKind::Readiness, true));
                }
                self.schedule(Instant::now());
            }
            ProbeKind::Liveness | ProbeKind::Startup if reached && !passed => {
                self.state.failed = Some(Failed {
                    kind,
                    message: message.clone(),
                });
                changes.push((kind, false));
                done = true;
            }
            _ => {}
        }
        self.persist();
        if !passed && changes.is_empty() {
            // Each failed attempt is worth an event; only the threshold changes anything.
            return self.emit(kind, false, message, false).await;
        }
        for (kind, result) in changes {
            info!(probe = %kind, result, "probe result changed");
            if !self.emit(kind, result, message.clone(), true).await {
                return false;
            }
        }
        !done
    }

    /// Publishes the state and saves it when it changed, before any event goes out, so a
    /// restarted agent never knows less than the pod worker was told.
    fn persist(&mut self) {
        if self.state == self.saved {
            return;
        }
        self.state_tx.send_replace(self.state.clone());
        if let Some(file) = &self.spec.state_file {
            if let Err(error) = store::save_to(file, &self.state) {
                warn!(file = %file.display(), %error, "probe state not saved");
                return;
            }
        }
        self.saved = self.state.clone();
    }

    /// Sends one event; false when nobody listens any more.
    async fn emit(&self, kind: ProbeKind, result: bool, message: String, changed: bool) -> bool {
        let event = ProbeEvent {
            container: self.spec.container.clone(),
            container_id: self.spec.container_id.clone(),
            kind,
            result,
            message,
            changed,
        };
        self.events.send(event).await.is_ok()
    }
}

/// One probe attempt, retried at once when it could not run at all.
fn attempt(slot: &Slot, target: &Arc<ProbeTarget>, exec: &Arc<dyn ExecRunner>) -> Attempt {
    let (kind, probe, target, exec) = (slot.kind, slot.probe.clone(), target.clone(), exec.clone());
    let limit = slot.timing.timeout + ATTEMPT_SLACK;
    Box::pin(async move {
        let mut outcome = ProbeOutcome::Error("not run".into());
        for _ in 0..ERROR_RETRIES {
            outcome = match tokio::time::timeout(limit, check(&probe, &target, &*exec)).await {
                Ok(outcome) => outcome,
                Err(_) => ProbeOutcome::Error(format!("probe did not finish within {limit:?}")),
            };
            if !matches!(outcome, ProbeOutcome::Error(_)) {
                break;
            }
        }
        (kind, outcome)
    })
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
