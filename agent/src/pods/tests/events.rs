//! The events a worker records, in the kubelet's words and order.

use super::*;
use crate::objects::fake::FakeObjects;
use crate::pods::events::{EventType, RecordedEvents};

fn recording(rt: FakeRuntime) -> (Harness, Arc<RecordedEvents>) {
    let events = Arc::new(RecordedEvents::default());
    let h = start_recording(rt, Arc::new(FakeObjects::default()), events.clone());
    (h, events)
}

fn reasons(events: &RecordedEvents) -> Vec<String> {
    events.reasons().into_iter().map(|(r, _)| r).collect()
}

fn pair(reason: &str, message: &str) -> (String, String) {
    (reason.to_string(), message.to_string())
}

#[tokio::test(start_paused = true)]
async fn a_normal_start_pulls_creates_and_starts() {
    let (h, events) = recording(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "web", "image": "nginx:latest"}]),
    )]);
    h.until("running", |s| running_attempt(s, "u1", "web") == Some(0))
        .await;
    let got = events.reasons();
    assert_eq!(got[0], pair("Pulling", "Pulling image \"nginx:latest\""));
    assert_eq!(got[1].0, "Pulled");
    assert!(
        got[1]
            .1
            .starts_with("Successfully pulled image \"nginx:latest\" in "),
        "{}",
        got[1].1
    );
    assert!(
        got[1]
            .1
            .ends_with(" including waiting). Image size: 12345 bytes."),
        "{}",
        got[1].1
    );
    assert_eq!(
        got[2..],
        [
            pair("Created", "Created container: web"),
            pair("Started", "Started container web")
        ]
    );
    let all = events.all();
    assert!(all.iter().all(|e| e.field_path == "spec.containers{web}"
        && e.pod_uid == "u1"
        && e.pod_name == "p-u1"
        && e.type_ == EventType::Normal));

    // Deleted: its running container is stopped.
    h.want(vec![]);
    h.until("removed", |s| s.list().is_empty()).await;
    assert_eq!(
        events.reasons().last(),
        Some(&pair("Killing", "Stopping container web"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_backs_off_with_the_kubelets_message() {
    let (h, events) = recording(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "app", "image": "busybox"}]),
    )]);
    h.until("running", |s| running_attempt(s, "u1", "app") == Some(0))
        .await;
    // The first restart is immediate, as the kubelet's; the second backs off.
    h.exit("app-0", 1);
    h.until("restarted", |s| running_attempt(s, "u1", "app") == Some(1))
        .await;
    h.exit("app-1", 1);
    h.until("restarted again", |s| {
        running_attempt(s, "u1", "app") == Some(2)
    })
    .await;
    let started = ["Pulled", "Created", "Started"];
    let want: Vec<&str> = [&["Pulling"][..], &started, &started, &["BackOff"], &started].concat();
    assert_eq!(reasons(&events), want);
    let all = events.all();
    assert_eq!(all[7].type_, EventType::Warning);
    assert_eq!(
        all[7].message,
        "Back-off restarting failed container app in pod p-u1_default(u1)"
    );
    // The image is on the node now: a restart does not pull again.
    assert_eq!(
        all[4].message,
        "Container image \"busybox\" already present on machine"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_liveness_probe_is_unhealthy_then_killed() {
    let rt = FakeRuntime::default();
    rt.exec.exit_codes.lock().unwrap().insert("check".into(), 1);
    let (h, events) = recording(rt);
    h.want(vec![probed_pod("u1", json!({"name": "a", "image": "busybox",
        "livenessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 2}}))]);
    h.until("stopped by liveness", |_| {
        h.rt.calls().contains(&Call::Stop("a-0".into()))
    })
    .await;
    let got = events.reasons();
    // One Unhealthy per failed attempt, as the kubelet records them; the second kills.
    let unhealthy: Vec<usize> = (0..got.len())
        .filter(|&i| got[i].0 == "Unhealthy")
        .collect();
    assert_eq!(unhealthy.len(), 2, "{got:?}");
    for &i in &unhealthy {
        assert!(got[i].1.starts_with("Liveness probe failed: "), "{got:?}");
    }
    let unhealthy = unhealthy[1];
    assert_eq!(
        got[unhealthy + 1],
        pair(
            "Killing",
            "Container a failed liveness probe, will be restarted"
        )
    );
    assert_eq!(events.all()[unhealthy].type_, EventType::Warning);
}

#[tokio::test(start_paused = true)]
async fn a_missing_config_map_is_a_failed_event() {
    let (h, events) = recording(FakeRuntime::default());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "busybox", "env": [
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}
        ]}]),
    )]);
    h.until("CreateContainerConfigError", |s| {
        waiting_reason(s, "u1", "a").as_deref() == Some("CreateContainerConfigError")
    })
    .await;
    let got = events.reasons();
    assert_eq!(
        got[..2].iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        ["Pulling", "Pulled"]
    );
    assert_eq!(
        got[2],
        pair("Failed", "Error: configmap \"settings\" not found")
    );
    assert_eq!(events.all()[2].type_, EventType::Warning);
    assert!(!got.iter().any(|(r, _)| r == "Started"));
}

#[tokio::test(start_paused = true)]
async fn a_readiness_probe_that_never_passes_is_unhealthy_at_every_attempt() {
    let rt = FakeRuntime::default();
    rt.exec.exit_codes.lock().unwrap().insert("check".into(), 1);
    let (h, events) = recording(rt);
    h.want(vec![probed_pod("u1", json!({"name": "a", "image": "busybox",
        "readinessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 3}}))]);
    h.until("five failed readiness attempts", |_| {
        events
            .reasons()
            .iter()
            .filter(|(r, _)| r == "Unhealthy")
            .count()
            >= 5
    })
    .await;
    let got = events.reasons();
    assert!(
        got.iter()
            .filter(|(r, _)| r == "Unhealthy")
            .all(|(_, m)| m.starts_with("Readiness probe failed: ")),
        "{got:?}"
    );
    assert!(!got.iter().any(|(r, _)| r == "Killing"), "{got:?}");
    assert!(!h.rt.calls().contains(&Call::Stop("a-0".into())));
}

#[tokio::test(start_paused = true)]
async fn env_from_keys_that_are_not_names_are_a_warning_on_the_pod() {
    let objects = Arc::new(FakeObjects::default());
    let cm: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(json!({"data": {"1bad": "x", "2nd": "y", "OK": "z"}})).unwrap();
    objects.put("ConfigMap", "default", "cfg", cm);
    let events = Arc::new(RecordedEvents::default());
    let h = start_recording(FakeRuntime::default(), objects, events.clone());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "busybox", "envFrom": [{"configMapRef": {"name": "cfg"}}]}]),
    )]);
    h.until("running", |s| running_attempt(s, "u1", "a") == Some(0))
        .await;
    let all = events.all();
    let skipped = all
        .iter()
        .find(|e| e.reason == "InvalidEnvironmentVariableNames")
        .expect("InvalidEnvironmentVariableNames");
    assert_eq!(
        skipped.message,
        "Keys [1bad, 2nd] from the EnvFrom configMap default/cfg were skipped since they are considered invalid environment variable names."
    );
    assert_eq!(
        (skipped.type_, skipped.field_path.as_str()),
        (EventType::Warning, "")
    );
}
