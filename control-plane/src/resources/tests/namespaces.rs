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
        assert_eq!(code(err.clone()), Code::PermissionDenied);
        assert_eq!(
            err.to_string(),
            format!("namespaces {name:?} is forbidden: this namespace may not be deleted")
        );
    }
}

#[tokio::test]
async fn deleting_a_namespace_marks_it_terminating_and_refuses_new_content() {
    let store = store().await;
    let store = store.as_ref();
    let manifest = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: team-a}}\n---\n{}",
        config_map("c", "team-a", "v"),
    );
    apply_ok(store, &manifest).await;
    let created = json(&get(store, "Namespace", "", "team-a").await.unwrap());
    assert_eq!(
        created["spec"]["finalizers"],
        serde_json::json!(["kubernetes"])
    );

    // The DELETE only marks it: its content is the namespace controller's to delete.
    let marked = delete(store, &SystemClock, "namespace", "", "team-a", "")
        .await
        .unwrap();
    let marked = json(&marked);
    assert_eq!(marked["status"]["phase"], "Terminating");
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        marked["spec"]["finalizers"],
        serde_json::json!(["kubernetes"])
    );
    assert!(get(store, "ConfigMap", "team-a", "c").await.is_ok());

    // A second DELETE changes nothing.
    let again = delete(store, &SystemClock, "namespace", "", "team-a", "")
        .await
        .unwrap();
    assert_eq!(json(&again), marked);

    // New content is refused as kube-apiserver's namespace lifecycle admission does.
    let err = apply_err(store, &config_map("new", "team-a", "v")).await;
    assert_eq!(code(err.clone()), Code::PermissionDenied);
    assert!(
        err.to_string().starts_with(
            "configmaps \"new\" is forbidden: unable to create new content in namespace team-a because it is being terminated"
        ),
        "{err}"
    );
    // An update of what is there is not a create: it goes through.
    apply_ok(store, &config_map("c", "team-a", "w")).await;

    // A user's update keeps the namespace's spec.finalizers.
    let mut edited = marked.clone();
    edited["spec"] = serde_json::json!({});
    edited["metadata"]["labels"]["team"] = "a".into();
    let key = Key::new("Namespace", "", "team-a");
    replace(
        store,
        &SystemClock,
        &crate::core::Ranges::default(),
        &key,
        edited,
        None,
        Part::Main,
        false,
        None,
    )
    .await
    .unwrap();
    let now = json(&get(store, "Namespace", "", "team-a").await.unwrap());
    assert_eq!(now["spec"]["finalizers"], serde_json::json!(["kubernetes"]));
    assert_eq!(now["metadata"]["labels"]["team"], "a");
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
