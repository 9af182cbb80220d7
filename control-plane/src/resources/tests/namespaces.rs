use tonic::Code;

use super::*;
use crate::store::Key;

#[tokio::test]
async fn bootstrap_makes_the_system_namespaces_once() {
    let store = store().await;
    let revision = store.current_revision().await.unwrap();
    bootstrap(store.as_ref(), &SystemClock).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), revision);
    for name in SYSTEM_NAMESPACES {
        let ns = json(&get(store.as_ref(), "Namespace", "", name).await.unwrap());
        assert_eq!(ns["status"]["phase"], "Active");
        let err = delete(store.as_ref(), &SystemClock, "Namespace", "", name, "")
            .await
            .unwrap_err();
        assert_eq!(code(err), Code::FailedPrecondition);
    }
}

#[tokio::test]
async fn deleting_a_namespace_deletes_everything_in_it() {
    let store = store().await;
    let store = store.as_ref();
    let deployment = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team-a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
";
    let manifest = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: team-a}}\n---\n{}---\n{deployment}",
        config_map("c", "team-a", "v"),
    );
    apply_ok(store, &manifest).await;
    apply(store, &SystemClock, "-", NGINX_POD, "team-a")
        .await
        .unwrap();
    apply_ok(store, &config_map("kept", "default", "v")).await;

    let deleted = delete(store, &SystemClock, "namespace", "", "team-a", "")
        .await
        .unwrap();
    assert_eq!(deleted.name, "team-a");
    for kind in Kind::namespaced_kinds() {
        let (items, _) = list(store, &Scope::new(kind.name, "team-a", false, "").unwrap())
            .await
            .unwrap();
        assert!(items.is_empty(), "{} left in team-a", kind.name);
    }
    assert!(get(store, "ConfigMap", "default", "kept").await.is_ok());
    let err = get(store, "Namespace", "", "team-a").await.unwrap_err();
    assert_eq!(code(err), Code::NotFound);
    let err = apply_err(store, &config_map("c", "team-a", "v")).await;
    assert_eq!(code(err), Code::NotFound);
}

#[tokio::test]
async fn an_interrupted_namespace_deletion_finishes_at_start() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(
        store,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n",
    )
    .await;
    apply_ok(store, &config_map("c", "team-a", "v")).await;
    // What a crash right after marking leaves behind.
    let key = Key::new("Namespace", "", "team-a");
    let stored = store.get(&key).await.unwrap().unwrap();
    let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
    value["status"]["phase"] = "Terminating".into();
    store
        .update(key.clone(), serde_json::to_vec(&value).unwrap(), None)
        .await
        .unwrap();

    let err = apply_err(store, &config_map("new", "team-a", "v")).await;
    assert_eq!(code(err.clone()), Code::FailedPrecondition);
    assert!(err.to_string().contains("being terminated"), "{err}");

    bootstrap(store, &SystemClock).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
    assert_eq!(
        store
            .get(&Key::new("ConfigMap", "team-a", "c"))
            .await
            .unwrap(),
        None
    );
}

/// Creation and deletion times come from the clock the caller passes, so a test can
/// fix them.
#[tokio::test]
async fn timestamps_come_from_the_callers_clock() {
    let store = store().await;
    let store = store.as_ref();
    let clock = crate::core::ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap());
    let manifest = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-t\n";
    apply(store, &clock, "ns.yaml", manifest, "").await.unwrap();
    let created = get(store, "Namespace", "", "team-t").await.unwrap();
    assert_eq!(
        json(&created)["metadata"]["creationTimestamp"],
        "2027-01-15T08:00:00Z"
    );
    clock.advance(std::time::Duration::from_secs(60));
    let deleted = delete(store, &clock, "Namespace", "", "team-t", "")
        .await
        .unwrap();
    assert_eq!(
        json(&deleted)["metadata"]["deletionTimestamp"],
        "2027-01-15T08:01:00Z"
    );
}
