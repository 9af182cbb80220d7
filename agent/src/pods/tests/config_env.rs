//! A container whose environment needs a ConfigMap that is not there yet.

use k8s_openapi::api::core::v1::ConfigMap;

use super::*;
use crate::objects::fake::FakeObjects;

fn waiting_message(s: &StatusStore, uid: &str, c: &str) -> Option<String> {
    let pod = s
        .list()
        .into_iter()
        .find(|p| p.metadata.uid.as_deref() == Some(uid))?;
    let status = pod
        .status?
        .container_statuses?
        .into_iter()
        .find(|x| x.name == c)?;
    status.state?.waiting?.message
}

#[tokio::test(start_paused = true)]
async fn a_missing_config_map_holds_the_container_until_it_appears() {
    let objects = Arc::new(FakeObjects::default());
    let h = start_with(FakeRuntime::default(), objects.clone());
    h.want(vec![pod(
        "u1",
        "Always",
        json!([{"name": "a", "image": "busybox", "env": [
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
        ]}]),
    )]);
    h.until("CreateContainerConfigError", |s| {
        waiting_reason(s, "u1", "a").as_deref() == Some("CreateContainerConfigError")
    })
    .await;
    assert_eq!(
        waiting_message(&h.store, "u1", "a").as_deref(),
        Some("configmap \"settings\" not found")
    );
    assert_eq!(phase(&h.store, "u1"), "Pending");

    // It keeps waiting, never started and never counted as a restart.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(h.rt.starts().is_empty(), "started: {:?}", h.rt.calls());
    assert_eq!(
        waiting_reason(&h.store, "u1", "a").as_deref(),
        Some("CreateContainerConfigError")
    );

    // A ConfigMap without the key: the message says so.
    objects.put("ConfigMap", "default", "settings", ConfigMap::default());
    h.until("the key message", |s| {
        waiting_message(s, "u1", "a").as_deref()
            == Some("couldn't find key mode in ConfigMap default/settings")
    })
    .await;

    let cm: ConfigMap = serde_json::from_value(json!({"data": {"mode": "fast"}})).unwrap();
    objects.put("ConfigMap", "default", "settings", cm);
    let put_at = Instant::now();
    h.until("running", |s| running_attempt(s, "u1", "a") == Some(0))
        .await;
    // Retried on its own short period, not after a crash-loop backoff (10 s here).
    assert!(
        put_at.elapsed() < Duration::from_secs(10),
        "{:?}",
        put_at.elapsed()
    );
    let configs = h.rt.configs.lock().unwrap().clone();
    assert_eq!(configs.len(), 1);
    assert_eq!(
        configs[0].1.env,
        vec![
            ("MODE".to_string(), "fast".to_string()),
            ("POD_IP".to_string(), "10.42.0.7".to_string())
        ]
    );
}
