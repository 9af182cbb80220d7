//! Finalizers, deletionTimestamp, generation and the metadata an update cannot change,
//! as kube-apiserver keeps them (`finalizers.rs`, `generation.rs`, `write.rs`).

use futures::StreamExt;
use serde_json::json;

use super::*;
use crate::core::Ranges;
use crate::store::{EventType, Key};

const HELD: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: held
  namespace: default
  finalizers: [example.com/hold]
data:
  key: value
";

const WEB: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:latest
";

async fn put(store: &dyn Store, key: &Key, value: Value, part: Part) -> Result<WireObject, Error> {
    replace(
        store,
        &SystemClock,
        &Ranges::default(),
        key,
        value,
        None,
        part,
        false,
        None,
    )
    .await
}

async fn stored_json(store: &dyn Store, key: &Key) -> Option<Value> {
    let stored = store.get(key).await.unwrap()?;
    Some(serde_json::from_slice(&stored.json).unwrap())
}

#[tokio::test]
async fn a_finalizer_holds_a_deleted_object_until_a_write_removes_it() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, HELD).await;
    let key = Key::new("ConfigMap", "default", "held");
    let from = store.current_revision().await.unwrap();
    let mut events = store.watch(Some("ConfigMap"), from).await.unwrap();

    let marked = delete(store, &SystemClock, "ConfigMap", "default", "held", "")
        .await
        .unwrap();
    let marked = json(&marked);
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(
        marked["metadata"]["finalizers"],
        json!(["example.com/hold"])
    );
    let event = tokio::time::timeout(TIMEOUT, events.next()).await.unwrap();
    assert_eq!(event.unwrap().unwrap().kind, EventType::Modified);

    // A second delete changes nothing.
    let again = delete(store, &SystemClock, "ConfigMap", "default", "held", "")
        .await
        .unwrap();
    assert_eq!(json(&again), marked);

    // No finalizer may join while it is being deleted.
    let mut more = marked.clone();
    more["metadata"]["finalizers"] = json!(["example.com/hold", "example.com/other"]);
    let err = put(store, &key, more, Part::Main).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("no new finalizers can be added if the object is being deleted"),
        "{err}"
    );

    // Other writes keep it, marked.
    let mut edited = marked.clone();
    edited["data"]["key"] = json!("edited");
    put(store, &key, edited, Part::Main).await.unwrap();
    let kept = stored_json(store, &key).await.unwrap();
    assert_eq!(kept["data"]["key"], "edited");
    assert_eq!(
        kept["metadata"]["deletionTimestamp"],
        marked["metadata"]["deletionTimestamp"]
    );

    // The write that removes the last finalizer deletes it.
    let mut released = kept.clone();
    released["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("finalizers");
    put(store, &key, released, Part::Main).await.unwrap();
    assert!(store.get(&key).await.unwrap().is_none());
    let kinds: Vec<EventType> = tokio::time::timeout(TIMEOUT, events.take(2).collect::<Vec<_>>())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.unwrap().kind)
        .collect();
    assert_eq!(kinds, [EventType::Modified, EventType::Deleted]);
}

#[tokio::test]
async fn an_object_without_finalizers_goes_at_once() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, &config_map("plain", "default", "v")).await;
    delete(
        store,
        &SystemClock,
        "ConfigMap",
        "default",
        "plain",
        "Foreground",
    )
    .await
    .unwrap();
    let key = Key::new("ConfigMap", "default", "plain");
    assert!(store.get(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn foreground_marks_an_owner_with_its_finalizer() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, WEB).await;
    let marked = delete(
        store,
        &SystemClock,
        "Deployment",
        "default",
        "web",
        "Foreground",
    )
    .await
    .unwrap();
    let marked = json(&marked);
    assert_eq!(
        marked["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
    // The generation goes up when the deletion starts, as kube-apiserver's.
    assert_eq!(marked["metadata"]["generation"], 2);
}

#[tokio::test]
async fn generation_follows_the_spec_only_and_only_where_kubernetes_has_one() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, &config_map("c", "default", "v")).await;
    let key = Key::new("ConfigMap", "default", "c");
    let created = stored_json(store, &key).await.unwrap();
    assert_eq!(created["metadata"].get("generation"), None);
    let mut changed = created.clone();
    changed["data"]["key"] = json!("w");
    put(store, &key, changed, Part::Main).await.unwrap();
    assert_eq!(
        stored_json(store, &key).await.unwrap()["metadata"].get("generation"),
        None
    );

    apply_ok(store, WEB).await;
    let key = Key::new("Deployment", "default", "web");
    let created = stored_json(store, &key).await.unwrap();
    assert_eq!(created["metadata"]["generation"], 1);

    let mut labelled = created.clone();
    labelled["metadata"]["labels"] = json!({"tier": "front"});
    put(store, &key, labelled, Part::Main).await.unwrap();
    let mut status = stored_json(store, &key).await.unwrap();
    status["status"] = json!({"observedGeneration": 1, "replicas": 1});
    put(store, &key, status, Part::Status).await.unwrap();
    let now = stored_json(store, &key).await.unwrap();
    assert_eq!(now["metadata"]["generation"], 1, "{now}");
    assert_eq!(now["status"]["replicas"], 1);

    let mut scaled = now.clone();
    scaled["spec"]["replicas"] = json!(4);
    // A client's own generation is ignored.
    scaled["metadata"]["generation"] = json!(40);
    put(store, &key, scaled, Part::Main).await.unwrap();
    assert_eq!(
        stored_json(store, &key).await.unwrap()["metadata"]["generation"],
        2
    );
}

#[tokio::test]
async fn a_put_keeps_the_creation_timestamp_and_refuses_another_uid() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, &config_map("c", "default", "v")).await;
    let key = Key::new("ConfigMap", "default", "c");
    let created = stored_json(store, &key).await.unwrap();

    let mut moved = created.clone();
    moved["metadata"]["creationTimestamp"] = json!("2001-01-01T00:00:00Z");
    moved["data"]["key"] = json!("w");
    put(store, &key, moved, Part::Main).await.unwrap();
    let now = stored_json(store, &key).await.unwrap();
    assert_eq!(
        now["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );
    assert_eq!(now["data"]["key"], "w");

    let mut other = now.clone();
    other["metadata"]["uid"] = json!("6a1f0000-0000-0000-0000-000000000000");
    let err = put(store, &key, other, Part::Main).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert!(
        err.to_string().contains(&format!(
            "Operation cannot be fulfilled on configmaps \"c\": Precondition failed: UID in precondition: 6a1f0000-0000-0000-0000-000000000000, UID in object meta: {}",
            created["metadata"]["uid"].as_str().unwrap()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn eviction_of_a_pod_with_a_finalizer_only_marks_it_once() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(
        store,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: held\n  namespace: default\n  finalizers: [example.com/keep]\nspec:\n  containers:\n    - name: c\n      image: busybox\n",
    )
    .await;
    let key = Key::new("Pod", "default", "held");
    let marked = evict(store, &SystemClock, "default", "held", Some(30))
        .await
        .unwrap();
    let marked = json(&marked);
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    // No grace runs for a pod that finalizers hold: it goes with the last one.
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(
        stored_json(store, &key).await.unwrap()["metadata"]["finalizers"],
        json!(["example.com/keep"])
    );

    // Evicting it again writes nothing.
    let revision = store.current_revision().await.unwrap();
    let again = evict(store, &SystemClock, "default", "held", None)
        .await
        .unwrap();
    assert_eq!(json(&again), marked);
    assert_eq!(store.current_revision().await.unwrap(), revision);

    let uid = marked["metadata"]["uid"].as_str().unwrap();
    assert!(
        crate::resources::finalizers::remove(store, &key, uid, "example.com/keep")
            .await
            .unwrap()
    );
    assert!(store.get(&key).await.unwrap().is_none());
}
