//! The reconcile runtime, driven through channels: triggers in, reconcile calls out.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use tokio::sync::mpsc;

use super::*;
use crate::controllers::runtime::{Action, Controller, RuntimeConfig, Trigger};
use crate::core::Error;
use crate::store::{Event, EventType, Stored};

/// Records every reconcile; fails the first `failures` calls; takes `hold` per call.
struct Recorder {
    calls: mpsc::UnboundedSender<Key>,
    failures: AtomicU32,
    hold: Duration,
    action: Mutex<Action>,
}

impl Reconciler for Recorder {
    const NAME: &'static str = "recorder";

    fn kinds(&self) -> Vec<&'static str> {
        vec!["Thing"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec!["Thing"]
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        vec![event.object.key.clone()]
    }

    async fn reconcile(&self, key: &Key) -> Result<Action, Error> {
        let _ = self.calls.send(key.clone());
        tokio::time::sleep(self.hold).await;
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::Invalid("injected".into()));
        }
        Ok(*self.action.lock().unwrap())
    }
}

fn config() -> RuntimeConfig {
    RuntimeConfig {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        resync: Duration::from_secs(3600),
        workers: 2,
    }
}

fn event(name: &str) -> Trigger {
    Trigger::Event(Event {
        kind: EventType::Modified,
        object: Stored {
            key: Key::new("Thing", "default", name),
            uid: "u".into(),
            revision: 1,
            json: b"{}".to_vec(),
        },
    })
}

struct Running {
    triggers: mpsc::Sender<Trigger>,
    calls: mpsc::UnboundedReceiver<Key>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(store: Arc<dyn Store>, failures: u32, hold: Duration, action: Action) -> Running {
    let (calls_tx, calls) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        calls: calls_tx,
        failures: AtomicU32::new(failures),
        hold,
        action: Mutex::new(action),
    });
    let (triggers, rx) = mpsc::channel(16);
    let task = tokio::spawn(Controller::new(recorder, store, config()).run_with(rx));
    Running {
        triggers,
        calls,
        task,
    }
}

async fn next_call(calls: &mut mpsc::UnboundedReceiver<Key>) -> Key {
    tokio::time::timeout(TIMEOUT, calls.recv())
        .await
        .expect("a reconcile")
        .unwrap()
}

async fn no_call(calls: &mut mpsc::UnboundedReceiver<Key>, wait: Duration) {
    if let Ok(Some(key)) = tokio::time::timeout(wait, calls.recv()).await {
        panic!("unexpected reconcile of {key}");
    }
}

#[tokio::test]
async fn every_object_is_reconciled_at_start_and_on_its_events() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store
        .create(
            Key::new("Thing", "default", "a"),
            "u".into(),
            b"{}".to_vec(),
        )
        .await
        .unwrap();
    let mut run = start(store, 0, Duration::ZERO, Action::AwaitChange).await;
    assert_eq!(next_call(&mut run.calls).await.name, "a");
    run.triggers.send(event("b")).await.unwrap();
    assert_eq!(next_call(&mut run.calls).await.name, "b");
    no_call(&mut run.calls, Duration::from_millis(100)).await;
    run.task.abort();
}

#[tokio::test]
async fn triggers_during_a_reconcile_collapse_into_one_more_run() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut run = start(store, 0, Duration::from_millis(200), Action::AwaitChange).await;
    run.triggers.send(event("a")).await.unwrap();
    assert_eq!(next_call(&mut run.calls).await.name, "a");
    for _ in 0..5 {
        run.triggers.send(event("a")).await.unwrap();
    }
    // The running one finishes, then exactly one more, never two at once.
    assert_eq!(next_call(&mut run.calls).await.name, "a");
    no_call(&mut run.calls, Duration::from_millis(400)).await;
    run.task.abort();
}

#[tokio::test]
async fn failures_are_retried_with_backoff_until_success() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut run = start(store, 3, Duration::ZERO, Action::AwaitChange).await;
    run.triggers.send(event("a")).await.unwrap();
    let started = tokio::time::Instant::now();
    for _ in 0..4 {
        assert_eq!(next_call(&mut run.calls).await.name, "a");
    }
    // 20 + 40 + 80 ms of backoff before the fourth call.
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "{:?}",
        started.elapsed()
    );
    no_call(&mut run.calls, Duration::from_millis(300)).await;
    run.task.abort();
}

#[tokio::test]
async fn a_requeue_runs_the_key_again_after_the_delay() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut run = start(
        store,
        0,
        Duration::ZERO,
        Action::Requeue(Duration::from_millis(50)),
    )
    .await;
    run.triggers.send(event("a")).await.unwrap();
    assert_eq!(next_call(&mut run.calls).await.name, "a");
    assert_eq!(next_call(&mut run.calls).await.name, "a");
    run.task.abort();
}

#[tokio::test]
async fn the_loop_ends_when_its_triggers_close() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let run = start(store, 0, Duration::ZERO, Action::AwaitChange).await;
    drop(run.triggers);
    tokio::time::timeout(TIMEOUT, run.task)
        .await
        .expect("the loop ended")
        .unwrap();
}

#[tokio::test]
async fn store_watches_drive_the_production_loop() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        calls: calls_tx,
        failures: AtomicU32::new(0),
        hold: Duration::ZERO,
        action: Mutex::new(Action::AwaitChange),
    });
    let task = tokio::spawn(Controller::new(recorder, store.clone(), config()).run());
    tokio::time::sleep(Duration::from_millis(100)).await;
    store
        .create(
            Key::new("Thing", "default", "w"),
            "u".into(),
            b"{}".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(next_call(&mut calls).await.name, "w");
    task.abort();
}
