//! The pod worker and manager, driven through channels against a recording fake.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio::time::{timeout, Instant};

use super::fake::{Call, FakeRuntime};
use super::pod_runtime::{FoundContainer, FoundState, RuntimeEvent};
use super::{PodManager, StatusStore, WorkerConfig};
use crate::pods::status::test_support::*;
use crate::sources::DesiredPods;

mod config_env;
mod events;

fn pod(uid: &str, policy: &str, containers: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": format!("p-{uid}"), "namespace": "default", "uid": uid},
        "spec": {"restartPolicy": policy, "terminationGracePeriodSeconds": 5, "containers": containers}
    }))
    .unwrap()
}

struct Harness {
    /// The node's root (probe state lands here); removed with the harness.
    _root: tempfile::TempDir,
    rt: Arc<FakeRuntime>,
    store: StatusStore,
    desired: watch::Sender<DesiredPods>,
    events: broadcast::Sender<RuntimeEvent>,
}

fn start(rt: FakeRuntime) -> Harness {
    start_with(rt, Arc::new(crate::objects::NoObjects))
}

/// A harness whose pods read ConfigMaps and Secrets from `objects`.
fn start_with(rt: FakeRuntime, objects: Arc<dyn crate::objects::PodObjects>) -> Harness {
    start_recording(rt, objects, Arc::new(super::events::NoEvents))
}

/// [`start_with`], the workers' events going to `events`.
fn start_recording(
    rt: FakeRuntime,
    objects: Arc<dyn crate::objects::PodObjects>,
    events: Arc<dyn super::events::EventRecorder>,
) -> Harness {
    start_configured(rt, |cfg| {
        cfg.objects = objects;
        cfg.events = events;
    })
}

/// A harness whose workers' configuration `configure` adjusts.
fn start_configured(rt: FakeRuntime, configure: impl FnOnce(&mut WorkerConfig)) -> Harness {
    let rt = Arc::new(rt);
    let store = StatusStore::default();
    let root = tempfile::tempdir().unwrap();
    let mut cfg = WorkerConfig::new(root.path().to_path_buf(), "node-a".into());
    cfg.backoff_base = Duration::from_secs(10);
    configure(&mut cfg);
    let manager = PodManager::new(rt.clone(), cfg, store.clone());
    let events = manager.events();
    let (desired, rx) = watch::channel(DesiredPods::default());
    tokio::spawn(manager.run(rx));
    Harness {
        _root: root,
        rt,
        store,
        desired,
        events,
    }
}

impl Harness {
    fn want(&self, pods: Vec<Pod>) {
        let pods = pods
            .into_iter()
            .map(|p| (p.metadata.uid.clone().unwrap(), std::sync::Arc::new(p)))
            .collect();
        self.desired.send_replace(DesiredPods {
            pods,
            ..DesiredPods::default()
        });
    }

    async fn until(&self, what: &str, f: impl Fn(&StatusStore) -> bool) {
        let polled = timeout(Duration::from_secs(3600), async {
            while !f(&self.store) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        if polled.await.is_err() {
            panic!(
                "timed out waiting for {what}; pods: {:#?}; calls: {:?}",
                self.store.list(),
                self.rt.calls()
            );
        }
    }

    fn exit(&self, id: &str, code: i32) {
        self.events
            .send(RuntimeEvent::Exited {
                id: id.into(),
                exit_code: code,
                finished_at: None,
            })
            .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_pod_runs_and_is_ready() {
    let h = start(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "busybox"}]),
    )]);
    h.until("running", |s| phase(s, "u1") == "Running" && ready(s, "u1"))
        .await;
    assert_eq!(h.rt.starts(), vec![("a".into(), 0)]);
    assert!(h.rt.calls().contains(&Call::CreateSandbox("u1".into())));
}

#[tokio::test(start_paused = true)]
async fn a_container_without_readiness_probe_is_ready_only_once_it_kept_running() {
    let h = start(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "busybox"}]),
    )]);
    h.until("running", |s| running_attempt(s, "u1", "a") == Some(0))
        .await;
    let started = Instant::now();
    assert!(!ready(&h.store, "u1"), "ready the moment it started");
    // One that exits at once was never ready (so never counted available).
    h.exit("a-0", 1);
    h.until("attempt 1", |s| running_attempt(s, "u1", "a") == Some(1))
        .await;
    assert!(!ready(&h.store, "u1"));
    h.until("ready", |s| ready(s, "u1")).await;
    let waited = Instant::now() - started;
    assert!(
        waited >= crate::pods::slot::READY_SETTLE,
        "ready after {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn crash_loop_backs_off_and_doubles() {
    let h = start(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "busybox"}]),
    )]);
    h.until("attempt 0", |s| running_attempt(s, "u1", "a") == Some(0))
        .await;
    h.exit("a-0", 1);
    // The first restart is immediate.
    h.until("attempt 1", |s| running_attempt(s, "u1", "a") == Some(1))
        .await;
    let t1 = Instant::now();
    h.exit("a-1", 1);
    h.until("CrashLoopBackOff", |s| {
        waiting_reason(s, "u1", "a").as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    h.until("attempt 2", |s| running_attempt(s, "u1", "a") == Some(2))
        .await;
    let waited = Instant::now() - t1;
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "waited {waited:?}"
    );
    let t2 = Instant::now();
    h.exit("a-2", 1);
    h.until("attempt 3", |s| running_attempt(s, "u1", "a") == Some(3))
        .await;
    let waited = Instant::now() - t2;
    assert!(
        waited >= Duration::from_secs(20) && waited < Duration::from_secs(21),
        "waited {waited:?}"
    );
    let last = last_exit_code(&h.store, "u1", "a");
    assert_eq!(last, Some(1));
    // The exited attempts are removed, not left behind.
    assert!(h.rt.calls().contains(&Call::Remove("a-0".into())));
}

#[tokio::test(start_paused = true)]
async fn on_failure_with_exit_0_completes() {
    let h = start(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "OnFailure",
        json!([{"name": "a", "image": "busybox"}]),
    )]);
    h.until("running", |s| running_attempt(s, "u1", "a") == Some(0))
        .await;
    h.exit("a-0", 0);
    h.until("succeeded", |s| phase(s, "u1") == "Succeeded")
        .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.rt.starts().len(), 1, "never restarted");
}

#[tokio::test(start_paused = true)]
async fn never_with_exit_3_fails() {
    let h = start(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Never",
        json!([{"name": "a", "image": "busybox"}]),
    )]);
    h.until("running", |s| running_attempt(s, "u1", "a") == Some(0))
        .await;
    h.exit("a-0", 3);
    h.until("failed", |s| phase(s, "u1") == "Failed").await;
    assert_eq!(terminated_exit_code(&h.store, "u1", "a"), Some(3));
}

#[tokio::test(start_paused = true)]
async fn missing_image_reads_err_image_pull_then_backoff() {
    let rt = FakeRuntime::default();
    rt.missing_images.lock().unwrap().insert("nope".into());
    let h = start(rt);
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "nope"}]),
    )]);
    h.until("ErrImagePull", |s| {
        waiting_reason(s, "u1", "a").as_deref() == Some("ErrImagePull")
    })
    .await;
    h.until("ImagePullBackOff", |s| {
        waiting_reason(s, "u1", "a").as_deref() == Some("ImagePullBackOff")
    })
    .await;
    assert_eq!(phase(&h.store, "u1"), "Pending");
    // Retried with backoff, not in a hot loop.
    tokio::time::sleep(Duration::from_secs(35)).await;
    let pulls =
        h.rt.calls()
            .iter()
            .filter(|c| matches!(c, Call::Pull(_)))
            .count();
    assert!((3..=4).contains(&pulls), "pulls after 35s: {pulls}");
}

#[tokio::test(start_paused = true)]
async fn removal_tears_everything_down() {
    let h = start(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]),
    )]);
    h.until("running", |s| ready(s, "u1")).await;
    h.want(vec![]);
    h.until("gone", |s| s.list().is_empty()).await;
    let calls = h.rt.calls();
    for c in [
        Call::Stop("a-0".into()),
        Call::Stop("b-0".into()),
        Call::Remove("a-0".into()),
        Call::Remove("b-0".into()),
        Call::RemoveSandbox("u1".into()),
    ] {
        assert!(calls.contains(&c), "missing {c:?} in {calls:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_deletion_grace_period_replaces_the_pods_own() {
    let h = start(FakeRuntime::default());
    let one = |uid: &str| pod(uid, "Always", json!([{"name": "a", "image": "busybox"}]));
    h.want(vec![one("u1"), one("u2")]);
    h.until("running", |s| ready(s, "u1") && ready(s, "u2"))
        .await;
    // u1 evicted with --grace-period 1; u2 deleted with its own 5 s.
    h.desired.send_replace(DesiredPods {
        pods: [("u2".to_string(), std::sync::Arc::new(one("u2")))].into(),
        deletion_grace: [("u1".to_string(), 1)].into(),
        ..DesiredPods::default()
    });
    h.until("u1 gone", |s| {
        !s.list()
            .iter()
            .any(|p| p.metadata.uid.as_deref() == Some("u1"))
    })
    .await;
    h.want(vec![]);
    h.until("u2 gone", |s| s.list().is_empty()).await;
    let graces = h.rt.stop_graces.lock().unwrap().clone();
    assert_eq!(graces, [Duration::from_secs(1), Duration::from_secs(5)]);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_agent_adopts_running_containers() {
    let rt = FakeRuntime::default();
    let found = FoundContainer {
        id: "a-2".into(),
        pod_uid: "u1".into(),
        pod_namespace: "default".into(),
        pod_name: "p-u1".into(),
        container_name: "a".into(),
        attempt: 2,
        state: FoundState::Running { pid: 4242 },
        created_at: None,
    };
    rt.containers.lock().unwrap().insert("a-2".into(), found);
    let orphan = FoundContainer {
        id: "x-0".into(),
        pod_uid: "gone".into(),
        container_name: "x".into(),
        attempt: 0,
        ..rt.containers.lock().unwrap()["a-2"].clone()
    };
    rt.containers.lock().unwrap().insert("x-0".into(), orphan);
    rt.sandboxes.lock().unwrap().insert("stale".into());
    let h = start(rt);
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "busybox"}]),
    )]);
    h.until("running", |s| running_attempt(s, "u1", "a") == Some(2))
        .await;
    h.until("orphans gone", |_| {
        h.rt.containers.lock().unwrap().len() == 1 && h.rt.sandboxes.lock().unwrap().len() == 1
    })
    .await;
    assert!(
        h.rt.starts().is_empty(),
        "adopted, not restarted: {:?}",
        h.rt.calls()
    );
    assert!(h.rt.calls().contains(&Call::RemoveSandbox("stale".into())));
}

#[tokio::test(start_paused = true)]
async fn init_containers_run_in_order_before_the_app() {
    let h = start(FakeRuntime::default());
    let mut p = pod("u1", "Always", json!([{"name": "app", "image": "busybox"}]));
    p.spec.as_mut().unwrap().init_containers = serde_json::from_value(
        json!([{"name": "i1", "image": "busybox"}, {"name": "i2", "image": "busybox"}]),
    )
    .unwrap();
    h.want(vec![p]);
    h.until("i1", |s| running_attempt(s, "u1", "i1") == Some(0))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.rt.starts(), vec![("i1".into(), 0)]);
    h.exit("i1-0", 0);
    h.until("i2", |s| running_attempt(s, "u1", "i2") == Some(0))
        .await;
    h.exit("i2-0", 0);
    h.until("app", |s| running_attempt(s, "u1", "app") == Some(0))
        .await;
    assert_eq!(
        h.rt.starts(),
        vec![("i1".into(), 0), ("i2".into(), 0), ("app".into(), 0)]
    );
}

fn probed_pod(uid: &str, container: serde_json::Value) -> Pod {
    pod(uid, "Always", json!([container]))
}

#[tokio::test(start_paused = true)]
async fn liveness_failure_restarts_the_container() {
    let rt = FakeRuntime::default();
    rt.exec.exit_codes.lock().unwrap().insert("check".into(), 1);
    let h = start(rt);
    h.want(vec![probed_pod("u1", json!({"name": "a", "image": "busybox",
        "livenessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 2}}))]);
    h.until("running", |s| running_attempt(s, "u1", "a") == Some(0))
        .await;
    h.until("stopped by liveness", |_| {
        h.rt.calls().contains(&Call::Stop("a-0".into()))
    })
    .await;
    h.exit("a-0", 137);
    h.until("attempt 1", |s| running_attempt(s, "u1", "a") == Some(1))
        .await;
    assert_eq!(last_exit_code(&h.store, "u1", "a"), Some(137));
}

#[tokio::test(start_paused = true)]
async fn readiness_flips_without_a_restart() {
    let rt = FakeRuntime::default();
    rt.exec.exit_codes.lock().unwrap().insert("ready".into(), 1);
    let h = start(rt);
    h.want(vec![probed_pod(
        "u1",
        json!({"name": "a", "image": "busybox",
        "readinessProbe": {"exec": {"command": ["ready"]}, "periodSeconds": 1}}),
    )]);
    h.until("running", |s| running_attempt(s, "u1", "a") == Some(0))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!ready(&h.store, "u1"), "not ready while the probe fails");
    h.rt.exec
        .exit_codes
        .lock()
        .unwrap()
        .insert("ready".into(), 0);
    h.until("ready", |s| ready(s, "u1")).await;
    h.rt.exec
        .exit_codes
        .lock()
        .unwrap()
        .insert("ready".into(), 1);
    h.until("not ready again", |s| !ready(s, "u1")).await;
    assert_eq!(h.rt.starts().len(), 1, "readiness never restarts");
}

#[tokio::test(start_paused = true)]
async fn an_oom_kill_reads_oomkilled() {
    let h = start(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Never",
        json!([{"name": "a", "image": "busybox"}]),
    )]);
    h.until("running", |s| running_attempt(s, "u1", "a") == Some(0))
        .await;
    h.events
        .send(RuntimeEvent::Oom { id: "a-0".into() })
        .unwrap();
    h.exit("a-0", 137);
    h.until("failed", |s| phase(s, "u1") == "Failed").await;
    let pod = h.store.list().pop().unwrap();
    let term = pod.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (term.reason.as_deref(), term.exit_code),
        (Some("OOMKilled"), 137)
    );
}

#[tokio::test(start_paused = true)]
async fn the_pod_ip_is_reported() {
    let h = start(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "busybox"}]),
    )]);
    h.until("running", |s| ready(s, "u1")).await;
    let status = h.store.list().pop().unwrap().status.unwrap();
    assert_eq!(status.pod_ip.as_deref(), Some("10.42.0.7"));
    assert_eq!(status.host_ip.as_deref(), Some("192.0.2.1"));
}

#[tokio::test(start_paused = true)]
async fn sidecars_stop_once_the_app_is_done() {
    let h = start(FakeRuntime::default());
    let mut p = pod("u1", "Never", json!([{"name": "app", "image": "busybox"}]));
    p.spec.as_mut().unwrap().init_containers = serde_json::from_value(
        json!([{"name": "side", "image": "busybox", "restartPolicy": "Always"}]),
    )
    .unwrap();
    h.want(vec![p]);
    h.until("app", |s| running_attempt(s, "u1", "app") == Some(0))
        .await;
    h.exit("app-0", 0);
    h.until("sidecar stopped", |_| {
        h.rt.calls().contains(&Call::Stop("side-0".into()))
    })
    .await;
    h.exit("side-0", 143);
    h.until("succeeded", |s| phase(s, "u1") == "Succeeded")
        .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        h.rt.starts().len(),
        2,
        "the sidecar is not restarted: {:?}",
        h.rt.calls()
    );
}

/// Six two-container pods at once on a node paced two at a time: never more than two
/// starts under way, and the first pods run before the last ones begin.
#[tokio::test(start_paused = true)]
async fn a_burst_of_pods_starts_a_few_at_a_time() {
    let rt = FakeRuntime {
        start_time: Duration::from_millis(100),
        ..FakeRuntime::default()
    };
    let h = start_configured(rt, |cfg| cfg.start_queue = super::StartQueue::new(2));
    let uids: Vec<String> = (0..6).map(|i| format!("u{i}")).collect();
    h.want(
        uids.iter()
            .map(|uid| {
                pod(
                    uid,
                    "Always",
                    json!([{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]),
                )
            })
            .collect(),
    );
    h.until("a first pod running", |s| {
        uids.iter().any(|u| phase(s, u) == "Running")
    })
    .await;
    let sandboxes = |rt: &FakeRuntime| {
        rt.calls()
            .iter()
            .filter(|c| matches!(c, Call::CreateSandbox(_)))
            .count()
    };
    assert!(
        sandboxes(&h.rt) < 6,
        "every pod was set up before the first one ran: {:?}",
        h.rt.calls()
    );
    h.until("all running", |s| {
        uids.iter().all(|u| phase(s, u) == "Running")
    })
    .await;
    assert_eq!(h.rt.starts().len(), 12);
    let most = h.rt.most_starting.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most <= 2, "{most} starts at once");
}
