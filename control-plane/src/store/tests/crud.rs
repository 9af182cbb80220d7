//! Objects, revisions and compare-and-swap.

use serde_json::json as j;

use super::{json, pod, take, Open};
use crate::store::{EventType, Key, StoreError};

pub(super) async fn create_get_list(open: Open<'_>) {
    let store = open(16);
    // 0 for an empty store, or 1 for an empty etcd (revisions are etcd's own).
    let base = store.current_revision().await.unwrap();
    assert!(base <= 1, "{base}");
    let a = store
        .create(pod("ns1", "a"), "uid-a".into(), json(j!({"n": "a"})))
        .await
        .unwrap();
    assert_eq!(
        (a.key.clone(), a.uid.as_str(), a.revision),
        (pod("ns1", "a"), "uid-a", base + 1)
    );
    store
        .create(pod("ns2", "c"), "uid-c".into(), json(j!({"n": "c"})))
        .await
        .unwrap();
    store
        .create(pod("ns1", "b"), "uid-b".into(), json(j!({"n": "b"})))
        .await
        .unwrap();
    let node = store
        .create(Key::new("Node", "", "n1"), "uid-n1".into(), json(j!({})))
        .await
        .unwrap();

    assert_eq!(store.get(&pod("ns1", "a")).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get(&pod("ns1", "missing")).await.unwrap(), None);
    assert_eq!(
        store.get(&Key::new("Node", "", "n1")).await.unwrap(),
        Some(node)
    );

    let (all, revision) = store.list("Pod", None).await.unwrap();
    let names: Vec<_> = all
        .iter()
        .map(|o| (o.key.namespace.as_str(), o.key.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [("ns1", "a"), ("ns1", "b"), ("ns2", "c")],
        "sorted by namespace, name"
    );
    assert_eq!(
        revision,
        base + 4,
        "the list is consistent at the last write, whatever its kind"
    );
    let (ns1, _) = store.list("Pod", Some("ns1")).await.unwrap();
    assert_eq!(ns1.len(), 2);
    assert_eq!(ns1[0], a);
    assert!(store.list("Pod", Some("nope")).await.unwrap().0.is_empty());
    assert_eq!(store.list("Node", None).await.unwrap().0.len(), 1);
    assert!(store.list("Service", None).await.unwrap().0.is_empty());
    assert_eq!(store.current_revision().await.unwrap(), base + 4);
}

pub(super) async fn create_existing_is_refused(open: Open<'_>) {
    let store = open(16);
    let first = store
        .create(pod("ns", "a"), "uid-1".into(), json(j!({"v": 1})))
        .await
        .unwrap();
    let err = store
        .create(pod("ns", "a"), "uid-2".into(), json(j!({"v": 2})))
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::AlreadyExists(pod("ns", "a")));
    assert_eq!(
        store.get(&pod("ns", "a")).await.unwrap(),
        Some(first),
        "the refused write changed nothing"
    );
    // The same name in another namespace or of another kind is another object.
    store
        .create(pod("other", "a"), "uid-3".into(), json(j!({})))
        .await
        .unwrap();
    store
        .create(Key::new("Service", "ns", "a"), "uid-4".into(), json(j!({})))
        .await
        .unwrap();
}

pub(super) async fn update_compares_revision(open: Open<'_>) {
    let store = open(16);
    let v1 = store
        .create(pod("ns", "a"), "uid-a".into(), json(j!({"v": 1})))
        .await
        .unwrap();
    let v2 = store
        .update(pod("ns", "a"), json(j!({"v": 2})), Some(v1.revision))
        .await
        .unwrap();
    assert!(v2.revision > v1.revision);
    assert_eq!(v2.uid, "uid-a", "an update keeps the uid");
    assert_eq!(store.get(&pod("ns", "a")).await.unwrap(), Some(v2.clone()));

    // A writer that read v1 loses the race and learns both revisions.
    let err = store
        .update(pod("ns", "a"), json(j!({"v": "stale"})), Some(v1.revision))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            key: pod("ns", "a"),
            expected: v1.revision,
            actual: v2.revision
        }
    );
    assert_eq!(store.get(&pod("ns", "a")).await.unwrap(), Some(v2.clone()));
    assert_eq!(
        store.current_revision().await.unwrap(),
        v2.revision,
        "a refused write takes no revision"
    );

    let v3 = store
        .update(pod("ns", "a"), json(j!({"v": 3})), None)
        .await
        .unwrap();
    assert!(v3.revision > v2.revision, "None is unconditional");
    assert_eq!(v3.json, json(j!({"v": 3})));

    let err = store
        .update(pod("ns", "missing"), json(j!({})), None)
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::NotFound(pod("ns", "missing")));
}

pub(super) async fn delete_compares_revision(open: Open<'_>) {
    let store = open(16);
    let v1 = store
        .create(pod("ns", "a"), "uid-a".into(), json(j!({"v": 1})))
        .await
        .unwrap();
    let v2 = store
        .update(pod("ns", "a"), json(j!({"v": 2})), None)
        .await
        .unwrap();

    let err = store
        .delete(&pod("ns", "a"), Some(v1.revision))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            key: pod("ns", "a"),
            expected: v1.revision,
            actual: v2.revision
        }
    );
    assert!(store.get(&pod("ns", "a")).await.unwrap().is_some());

    let gone = store
        .delete(&pod("ns", "a"), Some(v2.revision))
        .await
        .unwrap();
    assert!(
        gone.revision > v2.revision,
        "the deletion has its own revision"
    );
    assert_eq!(
        (gone.uid.as_str(), gone.json.clone()),
        ("uid-a", v2.json.clone()),
        "the last state"
    );
    assert_eq!(store.get(&pod("ns", "a")).await.unwrap(), None);
    assert!(store.list("Pod", None).await.unwrap().0.is_empty());

    let err = store.delete(&pod("ns", "a"), None).await.unwrap_err();
    assert_eq!(err, StoreError::NotFound(pod("ns", "a")));

    // A new object with the old name is a new object.
    let again = store
        .create(pod("ns", "a"), "uid-a2".into(), json(j!({"v": 1})))
        .await
        .unwrap();
    assert!(again.revision > gone.revision);
    assert_eq!(again.uid, "uid-a2");
    store.delete(&pod("ns", "a"), None).await.unwrap();
}

pub(super) async fn revisions_strictly_increase(open: Open<'_>) {
    let store = open(16);
    let mut last = 0;
    for i in 0..20 {
        let key = if i % 3 == 0 {
            Key::new("Node", "", format!("n{i}"))
        } else {
            pod("ns", &format!("p{}", i % 4))
        };
        let written = match store.get(&key).await.unwrap() {
            None => store
                .create(key, format!("uid-{i}"), json(j!({"i": i})))
                .await
                .unwrap(),
            Some(o) if i % 5 == 0 => store.delete(&o.key, Some(o.revision)).await.unwrap(),
            Some(o) => store
                .update(key, json(j!({"i": i})), Some(o.revision))
                .await
                .unwrap(),
        };
        assert!(
            written.revision > last,
            "one global counter across kinds: {} after {last}",
            written.revision
        );
        last = written.revision;
        assert_eq!(store.current_revision().await.unwrap(), last);
    }
}

pub(super) async fn list_revision_is_a_watch_starting_point(open: Open<'_>) {
    let store = open(16);
    store
        .create(pod("ns", "a"), "uid-a".into(), json(j!({})))
        .await
        .unwrap();
    store
        .create(pod("ns", "b"), "uid-b".into(), json(j!({})))
        .await
        .unwrap();
    let (listed, revision) = store.list("Pod", None).await.unwrap();
    assert_eq!(listed.len(), 2);

    let c = store
        .create(pod("ns", "c"), "uid-c".into(), json(j!({})))
        .await
        .unwrap();
    let a = store
        .update(pod("ns", "a"), json(j!({"v": 2})), None)
        .await
        .unwrap();
    let mut watch = store.watch(Some("Pod"), revision).await.unwrap();
    let events = take(&mut watch, 2).await;
    assert_eq!((events[0].kind, &events[0].object), (EventType::Added, &c));
    assert_eq!(
        (events[1].kind, &events[1].object),
        (EventType::Modified, &a)
    );
    super::assert_quiet(&mut watch).await;
}

/// Typed objects take uid and resourceVersion from the store, and go back without the
/// resourceVersion; garbage is an error naming the object.
#[test]
fn decode_and_encode_round_trip() {
    use k8s_openapi::api::core::v1::Pod;

    use crate::store::{decode, encode, Stored};

    let stored = Stored {
        key: pod("ns1", "a"),
        uid: "uid-a".into(),
        revision: 7,
        json: json(j!({"metadata": {"name": "a", "resourceVersion": "3"}})),
    };
    let object: Pod = decode(&stored).unwrap();
    assert_eq!(object.metadata.uid.as_deref(), Some("uid-a"));
    assert_eq!(object.metadata.resource_version.as_deref(), Some("7"));
    let back: serde_json::Value = serde_json::from_slice(&encode(&object)).unwrap();
    assert_eq!(back["metadata"]["uid"], "uid-a");
    assert!(back["metadata"].get("resourceVersion").is_none(), "{back}");

    let garbage = Stored {
        json: b"{not json".to_vec(),
        ..stored
    };
    let error = decode::<Pod>(&garbage).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("stored Pod/ns1/a does not decode: "),
        "{error}"
    );
}

/// Writes arriving together each get their own outcome, revision and event: a refused
/// one among them leaves the others.
pub(super) async fn concurrent_writes_each_get_their_own_outcome(open: Open<'_>) {
    let store = open(256);
    let mut events = store.watch(None, 0).await.unwrap();
    let writes: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            // Ten writers race for one name; forty have a name each.
            let name = if i < 10 {
                "contested".to_string()
            } else {
                format!("p{i}")
            };
            tokio::spawn(async move {
                store
                    .create(pod("ns", &name), format!("uid-{i}"), json(j!({"i": i})))
                    .await
            })
        })
        .collect();
    let mut revisions = Vec::new();
    let mut refused = 0;
    for write in writes {
        match write.await.unwrap() {
            Ok(stored) => revisions.push(stored.revision),
            Err(StoreError::AlreadyExists(key)) => {
                assert_eq!(key, pod("ns", "contested"));
                refused += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((revisions.len(), refused), (41, 9));
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), 41, "two writes shared a revision");
    let seen: Vec<i64> = take(&mut events, 41)
        .await
        .iter()
        .map(|e| e.object.revision)
        .collect();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "events out of order: {seen:?}"
    );
    assert_eq!(seen, revisions, "the events are the acknowledged writes");
    let (listed, _) = store.list("Pod", Some("ns")).await.unwrap();
    assert_eq!(listed.len(), 41);
}
