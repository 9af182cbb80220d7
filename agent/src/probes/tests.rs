//! The prober's schedule and thresholds under paused time, with the fake exec runner.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{ExecAction, Probe};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::fake::{Answer, FakeExec};
use super::*;

fn probe(cmd: &str, delay: i32, period: i32, success: i32, failure: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec![cmd.into()]),
        }),
        initial_delay_seconds: Some(delay),
        period_seconds: Some(period),
        success_threshold: Some(success),
        failure_threshold: Some(failure),
        ..Default::default()
    }
}

fn spec() -> ProbeSpec {
    ProbeSpec {
        container: "web".into(),
        container_id: "web-0".into(),
        liveness: None,
        readiness: None,
        startup: None,
        ports: vec![],
        pod_ip: None,
        started_at: SystemTime::now(),
        state_file: None,
    }
}

struct Run {
    handle: ProberHandle,
    events: mpsc::Receiver<ProbeEvent>,
    origin: Instant,
}

fn start(spec: ProbeSpec, fake: &Arc<FakeExec>, state: Option<ProbeState>) -> Run {
    let (tx, events) = mpsc::channel(16);
    let state = state.unwrap_or_else(|| spec.initial_state());
    Run {
        handle: spawn_prober(spec, fake.clone(), state, tx),
        events,
        origin: Instant::now(),
    }
}

impl Run {
    /// The next event and the second it came at.
    /// The next change of verdict and the second it came at (failed attempts skipped).
    async fn next(&mut self) -> (ProbeKind, bool, u64) {
        loop {
            let e = self.next_any().await;
            if e.changed {
                return (e.kind, e.result, self.origin.elapsed().as_secs());
            }
        }
    }

    async fn next_any(&mut self) -> ProbeEvent {
        let e = tokio::time::timeout(Duration::from_secs(3600), self.events.recv())
            .await
            .expect("no event within an hour")
            .expect("prober hung up");
        assert_eq!(
            (e.container.as_str(), e.container_id.as_str()),
            ("web", "web-0")
        );
        e
    }

    async fn quiet_for(&mut self, secs: u64) {
        let got = tokio::time::timeout(Duration::from_secs(secs), self.events.recv()).await;
        assert!(got.is_err(), "unexpected event {got:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn liveness_fails_after_the_threshold_and_stops() {
    let fake = FakeExec::new();
    fake.set("live", Answer::Fail);
    let mut run = start(
        ProbeSpec {
            liveness: Some(Probe {
                exec: Some(ExecAction {
                    command: Some(vec!["live".into()]),
                }),
                ..Default::default()
            }),
            ..spec()
        },
        &fake,
        None,
    );
    assert!(run.handle.state().ready, "no readiness probe: ready");
    // Defaults: every 10 s, three failures.
    assert_eq!(run.next().await, (ProbeKind::Liveness, false, 20));
    assert_eq!(fake.calls("live"), vec![0, 10, 20]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(run.handle.is_finished());
    assert_eq!(fake.calls("live").len(), 3);
    let state = run.handle.state();
    assert_eq!(state.failed.unwrap().kind, ProbeKind::Liveness);
}

#[tokio::test(start_paused = true)]
async fn liveness_success_resets_the_count() {
    let fake = FakeExec::new();
    fake.set("live", Answer::Fail);
    let mut run = start(
        ProbeSpec {
            liveness: Some(probe("live", 0, 1, 1, 3)),
            ..spec()
        },
        &fake,
        None,
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fake.set("live", Answer::Pass);
    tokio::time::sleep(Duration::from_secs(1)).await;
    fake.set("live", Answer::Fail);
    assert_eq!(run.next().await, (ProbeKind::Liveness, false, 5));
    assert_eq!(fake.calls("live"), vec![0, 1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn initial_delay_counts_from_container_start() {
    let fake = FakeExec::new();
    let started_at = SystemTime::now() - Duration::from_secs(3);
    let mut run = start(
        ProbeSpec {
            readiness: Some(probe("ready", 5, 4, 1, 3)),
            started_at,
            ..spec()
        },
        &fake,
        None,
    );
    assert!(!run.handle.state().ready);
    assert_eq!(run.next().await, (ProbeKind::Readiness, true, 2));
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(fake.calls("ready"), vec![2, 6, 10]);
    assert!(run.handle.state().ready);
}

#[tokio::test(start_paused = true)]
async fn readiness_flips_with_its_thresholds() {
    let fake = FakeExec::new();
    let mut run = start(
        ProbeSpec {
            readiness: Some(probe("ready", 0, 1, 2, 2)),
            ..spec()
        },
        &fake,
        None,
    );
    assert_eq!(run.next().await, (ProbeKind::Readiness, true, 1));
    fake.set("ready", Answer::Fail);
    assert_eq!(run.next().await, (ProbeKind::Readiness, false, 3));
    assert!(!run.handle.state().ready);
    fake.set("ready", Answer::Pass);
    assert_eq!(run.next().await, (ProbeKind::Readiness, true, 5));
    run.quiet_for(30).await;
    assert!(
        !run.handle.is_finished(),
        "readiness never stops the prober"
    );
}

#[tokio::test(start_paused = true)]
async fn startup_holds_the_others_back() {
    let fake = FakeExec::new();
    fake.set("start", Answer::Fail);
    let mut run = start(
        ProbeSpec {
            startup: Some(probe("start", 0, 2, 1, 10)),
            liveness: Some(probe("live", 0, 5, 1, 3)),
            readiness: Some(probe("ready", 0, 5, 1, 3)),
            ..spec()
        },
        &fake,
        None,
    );
    let s = run.handle.state();
    assert!(!s.started && !s.ready);
    tokio::time::sleep(Duration::from_secs(5)).await;
    fake.set("start", Answer::Pass);
    assert_eq!(run.next().await, (ProbeKind::Startup, true, 6));
    assert_eq!(run.next().await, (ProbeKind::Readiness, true, 6));
    assert_eq!(fake.calls("start"), vec![0, 2, 4, 6]);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(fake.calls("live"), vec![6, 11]);
    assert_eq!(fake.calls("ready"), vec![6, 11]);
    assert_eq!(fake.calls("start").len(), 4, "startup stops once passed");
}

#[tokio::test(start_paused = true)]
async fn startup_failure_restarts_like_liveness() {
    let fake = FakeExec::new();
    fake.set("start", Answer::Fail);
    let mut run = start(
        ProbeSpec {
            startup: Some(probe("start", 1, 1, 1, 4)),
            liveness: Some(probe("live", 0, 1, 1, 1)),
            ..spec()
        },
        &fake,
        None,
    );
    assert_eq!(run.next().await, (ProbeKind::Startup, false, 4));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(run.handle.is_finished());
    assert!(fake.calls("live").is_empty());
}

#[tokio::test(start_paused = true)]
async fn startup_without_readiness_makes_ready() {
    let fake = FakeExec::new();
    let mut run = start(
        ProbeSpec {
            startup: Some(probe("start", 0, 1, 1, 3)),
            ..spec()
        },
        &fake,
        None,
    );
    assert!(!run.handle.state().ready);
    assert_eq!(run.next().await, (ProbeKind::Startup, true, 0));
    assert_eq!(run.next().await, (ProbeKind::Readiness, true, 0));
    let s = run.handle.state();
    assert!(s.ready && s.started);
}

#[tokio::test(start_paused = true)]
async fn errors_and_timeouts() {
    let fake = FakeExec::new();
    fake.set("ready", Answer::Broken);
    fake.set("live", Answer::Hang);
    let mut run = start(
        ProbeSpec {
            readiness: Some(probe("ready", 0, 1, 1, 1)),
            liveness: Some(probe("live", 0, 10, 1, 2)),
            ..spec()
        },
        &fake,
        None,
    );
    // Timed-out execs count as failures; errors count as nothing (but are retried).
    assert_eq!(run.next().await, (ProbeKind::Liveness, false, 11));
    assert!(!run.handle.state().ready);
    assert_eq!(fake.calls("ready")[..3], [0, 0, 0]);
}

#[tokio::test(start_paused = true)]
async fn restored_readiness_does_not_flap() {
    let fake = FakeExec::new();
    fake.set("ready", Answer::Fail);
    let mut restored = ProbeState::fresh(true, false);
    restored.ready = true;
    restored.readiness.successes = 1;
    let mut run = start(
        ProbeSpec {
            readiness: Some(probe("ready", 30, 1, 1, 2)),
            started_at: SystemTime::now() - Duration::from_secs(600),
            ..spec()
        },
        &fake,
        Some(restored),
    );
    assert!(run.handle.state().ready, "no flap to not-ready");
    // The initial delay is long over: probing goes on at once, ready until two failures.
    assert_eq!(run.next().await, (ProbeKind::Readiness, false, 1));
    assert_eq!(fake.calls("ready"), vec![0, 1]);
}

#[tokio::test(start_paused = true)]
async fn restored_liveness_failures_keep_counting() {
    let fake = FakeExec::new();
    fake.set("live", Answer::Fail);
    let mut restored = ProbeState::fresh(false, false);
    restored.liveness.failures = 2;
    let mut run = start(
        ProbeSpec {
            liveness: Some(probe("live", 0, 1, 1, 3)),
            ..spec()
        },
        &fake,
        Some(restored),
    );
    assert_eq!(run.next().await, (ProbeKind::Liveness, false, 0));
}

#[tokio::test(start_paused = true)]
async fn restored_failure_is_reported_again() {
    let fake = FakeExec::new();
    let mut restored = ProbeState::fresh(false, false);
    restored.failed = Some(Failed {
        kind: ProbeKind::Liveness,
        message: "boom".into(),
    });
    let mut run = start(
        ProbeSpec {
            liveness: Some(probe("live", 0, 1, 1, 1)),
            ..spec()
        },
        &fake,
        Some(restored),
    );
    assert_eq!(run.next().await, (ProbeKind::Liveness, false, 0));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(fake.calls("live").is_empty());
}

#[tokio::test(start_paused = true)]
async fn state_is_saved_on_changes_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = store::path(dir.path(), "web", 0);
    let fake = FakeExec::new();
    let mut run = start(
        ProbeSpec {
            readiness: Some(probe("ready", 0, 1, 1, 3)),
            state_file: Some(file.clone()),
            ..spec()
        },
        &fake,
        None,
    );
    run.next().await;
    let saved = store::load_from(&file).unwrap();
    assert!(saved.ready);
    std::fs::remove_file(&file).unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert!(!file.exists(), "steady successes rewrote the state");
    fake.set("ready", Answer::Fail);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let saved = store::load_from(&file).unwrap();
    assert_eq!((saved.ready, saved.readiness.failures), (true, 1));
    assert_eq!(saved, run.handle.state());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_probing() {
    let fake = FakeExec::new();
    let run = start(
        ProbeSpec {
            readiness: Some(probe("ready", 0, 1, 1, 3)),
            ..spec()
        },
        &fake,
        None,
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(run);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(fake.calls("ready"), vec![0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn every_failed_attempt_is_reported_without_a_change() {
    let fake = FakeExec::new();
    fake.set("ready", Answer::Fail);
    let mut run = start(
        ProbeSpec {
            readiness: Some(probe("ready", 0, 1, 1, 3)),
            ..spec()
        },
        &fake,
        None,
    );
    // Never ready, so the verdict never changes: still one report per attempt.
    for _ in 0..4 {
        let e = run.next_any().await;
        assert_eq!(
            (e.kind, e.result, e.changed),
            (ProbeKind::Readiness, false, false)
        );
    }
    assert!(!run.handle.state().ready);
}
