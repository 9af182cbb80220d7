//! A small reconcile runtime with kube-runtime's contract.
//!
//! - A [`Reconciler`] names the kinds it watches and maps each event to the keys of the
//!   objects it manages ([`Reconciler::triggers`]); the runtime calls
//!   [`Reconciler::reconcile`] with a key, and the reconciler reads the current state
//!   itself (level-triggered: the event only says *when*, never *what*).
//! - A key is never reconciled twice at once; a key triggered while its reconcile runs
//!   is run again afterwards (nothing is lost, nothing doubles).
//! - `Ok(Action::Requeue(d))` runs the key again after `d`; an error goes through
//!   [`Reconciler::error_policy`] (default: exponential backoff per key, reset by a
//!   success).
//! - Every primary object is reconciled at start, after a lost watch, and every
//!   `resync` period.
//! - One span per reconcile (`reconcile`, with the controller and the object).
//!
//! Tests feed triggers through a channel ([`Controller::run_with`]) instead of store
//! watches.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::core::Error;
use crate::store::{follow_kinds, Event, Key, Notice, Store};

/// What to do after a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run again after this long, even if nothing changes (a deadline, minReadySeconds).
    Requeue(Duration),
    /// Run again only when a watched object changes.
    AwaitChange,
}

/// Something happened: an event of a watched kind, or a gap in the watches (anything may
/// have changed, so every primary object is reconciled).
#[derive(Debug, Clone)]
pub enum Trigger {
    Event(Event),
    Resync,
}

/// Pacing of the runtime; tests use milliseconds.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub resync: Duration,
    /// Reconciles running at once (of different keys).
    pub workers: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(60),
            resync: Duration::from_secs(300),
            workers: 4,
        }
    }
}

pub trait Reconciler: Send + Sync + 'static {
    /// The controller's name, in spans and logs.
    const NAME: &'static str;
    /// The kinds of the objects reconciled (listed at start and on resync).
    fn kinds(&self) -> Vec<&'static str>;
    /// Every kind whose events can trigger a reconcile (the primary kind included).
    fn watched(&self) -> Vec<&'static str>;
    /// The key a listed object of [`Reconciler::kinds`] is reconciled under (itself,
    /// unless the reconciler names its work by another object, as the Endpoints
    /// controller names it by the Service).
    fn primary_key(&self, listed: &Key) -> Key {
        listed.clone()
    }
    /// The keys an event concerns.
    fn triggers(&self, event: &Event) -> impl Future<Output = Vec<Key>> + Send;
    /// Makes the world match the object at `key` (which may be gone). Idempotent.
    fn reconcile(&self, key: &Key) -> impl Future<Output = Result<Action, Error>> + Send;
    /// What to do after a failure; `failures` counts consecutive failures of this key.
    fn error_policy(
        &self,
        _key: &Key,
        _error: &Error,
        failures: u32,
        config: &RuntimeConfig,
    ) -> Action {
        let factor = 2_u32.saturating_pow(failures.saturating_sub(1).min(16));
        Action::Requeue(
            config
                .backoff_initial
                .saturating_mul(factor)
                .min(config.backoff_max),
        )
    }
}

pub struct Controller<R: Reconciler> {
    reconciler: Arc<R>,
    store: Arc<dyn Store>,
    config: RuntimeConfig,
}

/// The keyed work queue: ready keys in order, delayed keys with their due time, and
/// which keys are running or were triggered while running.
#[derive(Default)]
struct Queue {
    ready: VecDeque<Key>,
    queued: HashSet<Key>,
    delayed: HashMap<Key, Instant>,
    running: HashSet<Key>,
    dirty: HashSet<Key>,
    failures: HashMap<Key, u32>,
}

impl Queue {
    fn add(&mut self, key: Key) {
        if self.running.contains(&key) {
            self.dirty.insert(key);
        } else if self.queued.insert(key.clone()) {
            self.delayed.remove(&key);
            self.ready.push_back(key);
        }
    }

    /// Runs `key` at `at` unless it is already due earlier.
    fn add_at(&mut self, key: Key, at: Instant) {
        if self.queued.contains(&key) {
            return;
        }
        let due = self.delayed.entry(key).or_insert(at);
        *due = (*due).min(at);
    }

    fn next_due(&self) -> Option<Instant> {
        self.delayed.values().min().copied()
    }

    fn promote_due(&mut self, now: Instant) {
        let due: Vec<Key> = self
            .delayed
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.delayed.remove(&key);
            self.add(key);
        }
    }

    fn take(&mut self) -> Option<Key> {
        let key = self.ready.pop_front()?;
        self.queued.remove(&key);
        self.running.insert(key.clone());
        Some(key)
    }

    fn finished(&mut self, key: Key) {
        self.running.remove(&key);
        if self.dirty.remove(&key) {
            self.add(key);
        }
    }
}

impl<R: Reconciler> Controller<R> {
    pub fn new(reconciler: Arc<R>, store: Arc<dyn Store>, config: RuntimeConfig) -> Self {
        Controller {
            reconciler,
            store,
            config,
        }
    }

    /// Runs until aborted, triggered by store watches of the reconciler's kinds.
    pub async fn run(self) {
        let triggers = watch_kinds(self.store.clone(), self.reconciler.watched()).await;
        self.run_with(triggers).await;
    }

    /// Runs until `triggers` closes (or the task is aborted).
    pub async fn run_with(self, mut triggers: mpsc::Receiver<Trigger>) {
        let mut queue = Queue::default();
        let mut running: JoinSet<(Key, Result<Action, Error>)> = JoinSet::new();
        self.enqueue_all(&mut queue).await;
        let mut next_resync = Instant::now() + self.config.resync;
        let mut open = true;
        loop {
            queue.promote_due(Instant::now());
            while running.len() < self.config.workers.max(1) {
                let Some(key) = queue.take() else { break };
                let reconciler = self.reconciler.clone();
                let span = tracing::info_span!("reconcile", controller = R::NAME, object = %key);
                running.spawn(
                    async move {
                        let result = reconciler.reconcile(&key).await;
                        (key, result)
                    }
                    .instrument(span),
                );
            }
            if !open && running.is_empty() {
                return;
            }
            let wake = queue.next_due().map_or(next_resync, |d| d.min(next_resync));
            tokio::select! {
                trigger = triggers.recv(), if open => match trigger {
                    Some(Trigger::Event(event)) => {
                        for key in self.reconciler.triggers(&event).await {
                            queue.add(key);
                        }
                    }
                    Some(Trigger::Resync) => self.enqueue_all(&mut queue).await,
                    None => open = false,
                },
                done = running.join_next(), if !running.is_empty() => {
                    if let Some(Ok((key, result))) = done {
                        self.after(&mut queue, key, result);
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= next_resync {
                        next_resync = Instant::now() + self.config.resync;
                        self.enqueue_all(&mut queue).await;
                    }
                }
            }
        }
    }

    fn after(&self, queue: &mut Queue, key: Key, result: Result<Action, Error>) {
        let action = match result {
            Ok(action) => {
                queue.failures.remove(&key);
                action
            }
            Err(error) => {
                let failures = queue.failures.entry(key.clone()).or_insert(0);
                *failures += 1;
                let action = self
                    .reconciler
                    .error_policy(&key, &error, *failures, &self.config);
                tracing::warn!(controller = R::NAME, object = %key, %error, failures = *failures, "reconcile failed");
                action
            }
        };
        if let Action::Requeue(after) = action {
            queue.add_at(key.clone(), Instant::now() + after);
        }
        queue.finished(key);
    }

    async fn enqueue_all(&self, queue: &mut Queue) {
        for kind in self.reconciler.kinds() {
            match self.store.list(kind, None).await {
                Ok((items, _)) => items
                    .iter()
                    .for_each(|s| queue.add(self.reconciler.primary_key(&s.key))),
                Err(error) => {
                    tracing::warn!(controller = R::NAME, kind, %error, "cannot list for a resync");
                }
            }
        }
    }
}

const BUFFER: usize = 1024;

impl Notice for Trigger {
    fn event(event: Event) -> Self {
        Trigger::Event(event)
    }

    fn gap() -> Self {
        Trigger::Resync
    }
}

/// Watches `kinds` from the current revision and forwards their events; a lost watch is
/// restarted from the current revision and reported as [`Trigger::Resync`]. The watchers
/// stop when the receiver is dropped.
pub async fn watch_kinds(
    store: Arc<dyn Store>,
    kinds: Vec<&'static str>,
) -> mpsc::Receiver<Trigger> {
    let from = loop {
        match store.current_revision().await {
            Ok(revision) => break revision,
            Err(error) => {
                tracing::warn!(%error, "cannot read the store's revision; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    follow_kinds(store, kinds, from, BUFFER)
}

/// Keys of the objects a watched event's controller reference names, if it is of `kind`.
pub fn owner_key(event: &Event, kind: &str) -> Option<Key> {
    let value: serde_json::Value = serde_json::from_slice(&event.object.json).ok()?;
    let refs = value.pointer("/metadata/ownerReferences")?.as_array()?;
    let owner = refs
        .iter()
        .find(|r| r["controller"] == serde_json::Value::Bool(true))?;
    (owner["kind"].as_str()? == kind).then(|| {
        Key::new(
            kind,
            event.object.key.namespace.clone(),
            owner["name"].as_str().unwrap_or_default(),
        )
    })
}

/// The key of a `kind` object's own event, or of the `kind` object controlling the
/// object of the event (a controller watching its kind and what it creates).
pub fn self_or_owner(event: &Event, kind: &str) -> Vec<Key> {
    if event.object.key.kind == kind {
        return vec![event.object.key.clone()];
    }
    owner_key(event, kind).into_iter().collect()
}

/// Every key of `kind` in `namespace` (when an orphan may be adopted by any of them).
pub async fn all_in_namespace(store: &dyn Store, kind: &str, namespace: &str) -> Vec<Key> {
    match store.list(kind, Some(namespace)).await {
        Ok((items, _)) => items.into_iter().map(|s| s.key).collect(),
        Err(_) => Vec::new(),
    }
}

/// The keys, deduplicated and in order.
pub fn unique(keys: impl IntoIterator<Item = Key>) -> Vec<Key> {
    let set: BTreeMap<Key, ()> = keys.into_iter().map(|k| (k, ())).collect();
    set.into_keys().collect()
}
