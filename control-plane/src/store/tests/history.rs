//! Reads at a past revision (`list_at`): the state a paginated list's first page saw.

use serde_json::json as j;

use super::{json, pod, Open};
use crate::store::{Key, StoreError};

pub(super) async fn list_at_shows_the_state_at_a_revision(open: Open<'_>) {
    let store = open(16);
    let store = store.as_ref();
    for (ns, name) in [("ns", "a"), ("ns", "b"), ("ns", "c"), ("other", "d")] {
        store
            .create(pod(ns, name), format!("uid-{name}"), json(j!({"v": 1})))
            .await
            .unwrap();
    }
    store
        .update(pod("ns", "b"), json(j!({"v": 2})), None)
        .await
        .unwrap();
    let (then, at) = store.list("Pod", Some("ns")).await.unwrap();
    let (then_all, _) = store.list("Pod", None).await.unwrap();

    // Every kind of change after `at`, and other kinds' writes between them.
    store
        .update(pod("ns", "b"), json(j!({"v": 3})), None)
        .await
        .unwrap();
    store.delete(&pod("ns", "c"), None).await.unwrap();
    store
        .create(Key::new("Node", "", "n1"), "uid-n1".into(), json(j!({})))
        .await
        .unwrap();
    store
        .create(pod("ns", "e"), "uid-e".into(), json(j!({})))
        .await
        .unwrap();
    store
        .create(pod("ns", "f"), "uid-f".into(), json(j!({})))
        .await
        .unwrap();
    store.delete(&pod("ns", "f"), None).await.unwrap();
    store.delete(&pod("ns", "a"), None).await.unwrap();
    store
        .create(pod("ns", "a"), "uid-a2".into(), json(j!({"v": 9})))
        .await
        .unwrap();
    store
        .update(pod("other", "d"), json(j!({"v": 2})), None)
        .await
        .unwrap();

    assert_eq!(store.list_at("Pod", Some("ns"), at).await.unwrap(), then);
    assert_eq!(store.list_at("Pod", None, at).await.unwrap(), then_all);
    // At the current revision (or past it) it is the list.
    let (now, current) = store.list("Pod", None).await.unwrap();
    assert_eq!(store.list_at("Pod", None, current).await.unwrap(), now);
    assert_eq!(store.list_at("Pod", None, current + 5).await.unwrap(), now);
    assert!(store.list_at("Secret", None, at).await.unwrap().is_empty());
}

pub(super) async fn list_at_a_compacted_revision_is_refused(open: Open<'_>) {
    let store = open(16);
    let store = store.as_ref();
    store
        .create(pod("ns", "a"), "uid-a".into(), json(j!({"v": 1})))
        .await
        .unwrap();
    let (then, at) = store.list("Pod", None).await.unwrap();
    store
        .update(pod("ns", "a"), json(j!({"v": 2})), None)
        .await
        .unwrap();
    store.compact(at).await.unwrap();
    // The compaction point itself is still readable (the log after it is whole).
    assert_eq!(store.list_at("Pod", None, at).await.unwrap(), then);

    let now = store.current_revision().await.unwrap();
    store.compact(now).await.unwrap();
    assert_eq!(
        store.list_at("Pod", None, at).await,
        Err(StoreError::Compacted {
            requested: at,
            oldest: now
        })
    );
}
