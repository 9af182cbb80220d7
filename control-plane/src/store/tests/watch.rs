//! Watches: catch-up from the log, the switch to live events, lag and compaction.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json as j;

use super::{assert_quiet, json, pod, take, Open, TIMEOUT};
use crate::store::{compact_keeping, spawn_compactor, EventType, Key, Store, StoreError, Stored};

/// Creates, updates and deletes a few objects of two kinds; returns every write in order.
async fn history(store: &dyn Store) -> Vec<(EventType, Stored)> {
    let mut writes = vec![];
    for name in ["a", "b", "c"] {
        writes.push((
            EventType::Added,
            store
                .create(pod("ns", name), format!("uid-{name}"), json(j!({"v": 1})))
                .await
                .unwrap(),
        ));
    }
    writes.push((
        EventType::Added,
        store
            .create(Key::new("Node", "", "n1"), "uid-n1".into(), json(j!({})))
            .await
            .unwrap(),
    ));
    writes.push((
        EventType::Modified,
        store
            .update(pod("ns", "b"), json(j!({"v": 2})), None)
            .await
            .unwrap(),
    ));
    writes.push((
        EventType::Deleted,
        store.delete(&pod("ns", "a"), None).await.unwrap(),
    ));
    writes.push((
        EventType::Modified,
        store
            .update(Key::new("Node", "", "n1"), json(j!({"ready": true})), None)
            .await
            .unwrap(),
    ));
    writes.push((
        EventType::Modified,
        store
            .update(pod("ns", "c"), json(j!({"v": 2})), None)
            .await
            .unwrap(),
    ));
    writes
}

fn seen(events: &[crate::store::Event]) -> Vec<(EventType, Stored)> {
    events.iter().map(|e| (e.kind, e.object.clone())).collect()
}

pub(super) async fn watch_from_zero_sees_everything_in_order(open: Open<'_>) {
    let store = open(16);
    let base = store.current_revision().await.unwrap();
    let writes = history(store.as_ref()).await;
    let mut watch = store.watch(None, 0).await.unwrap();
    assert_eq!(seen(&take(&mut watch, writes.len()).await), writes);
    // The deletion carries the object's last state at the deletion's revision.
    let (_, deleted) = &writes[5];
    assert_eq!(
        (deleted.json.clone(), deleted.revision),
        (json(j!({"v": 1})), base + 6)
    );

    // Then live events follow.
    let live = store
        .update(pod("ns", "b"), json(j!({"v": 3})), None)
        .await
        .unwrap();
    let event = &take(&mut watch, 1).await[0];
    assert_eq!((event.kind, &event.object), (EventType::Modified, &live));
    assert_quiet(&mut watch).await;
}

pub(super) async fn watch_from_the_middle(open: Open<'_>) {
    let store = open(16);
    let base = store.current_revision().await.unwrap();
    let writes = history(store.as_ref()).await;
    let mut watch = store.watch(None, base + 4).await.unwrap();
    assert_eq!(seen(&take(&mut watch, writes.len() - 4).await), writes[4..]);
    assert_quiet(&mut watch).await;

    // From the current revision: live events only.
    let now = store.current_revision().await.unwrap();
    let mut watch = store.watch(None, now).await.unwrap();
    assert_quiet(&mut watch).await;
    let live = store
        .create(pod("ns", "z"), "uid-z".into(), json(j!({})))
        .await
        .unwrap();
    assert_eq!(take(&mut watch, 1).await[0].object, live);
}

pub(super) async fn watch_from_a_compacted_revision_is_refused(open: Open<'_>) {
    let store = open(16);
    let base = store.current_revision().await.unwrap();
    let writes = history(store.as_ref()).await;
    store.compact(base + 5).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), base + 5);

    let err = store
        .watch(None, base + 3)
        .await
        .err()
        .expect("watch from a compacted revision");
    assert_eq!(
        err,
        StoreError::Compacted {
            requested: base + 3,
            oldest: base + 5
        }
    );
    assert!(matches!(
        store.watch(Some("Pod"), 0).await,
        Err(StoreError::Compacted { .. })
    ));

    // From the compaction point itself, everything after it is still there.
    let mut watch = store.watch(None, base + 5).await.unwrap();
    assert_eq!(seen(&take(&mut watch, writes.len() - 5).await), writes[5..]);

    // Objects are kept; compacting backwards is a no-op; past the end clamps.
    assert_eq!(store.list("Pod", None).await.unwrap().0.len(), 2);
    store.compact(base + 2).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), base + 5);
    store.compact(1_000).await.unwrap();
    let now = store.current_revision().await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), now);
    assert!(store.watch(None, now).await.is_ok());
    let next = store
        .create(pod("ns", "after"), "uid".into(), json(j!({})))
        .await
        .unwrap();
    assert_eq!(
        next.revision,
        now + 1,
        "compaction never gives a revision back"
    );
}

pub(super) async fn kind_filter(open: Open<'_>) {
    let store = open(16);
    let base = store.current_revision().await.unwrap();
    let writes = history(store.as_ref()).await;
    let pods: Vec<_> = writes
        .iter()
        .filter(|(_, o)| o.key.kind == "Pod")
        .cloned()
        .collect();
    let mut watch = store.watch(Some("Pod"), 0).await.unwrap();
    assert_eq!(seen(&take(&mut watch, pods.len()).await), pods);
    store
        .update(Key::new("Node", "", "n1"), json(j!({"ready": false})), None)
        .await
        .unwrap();
    let live = store
        .create(pod("ns", "d"), "uid-d".into(), json(j!({})))
        .await
        .unwrap();
    assert_eq!(
        take(&mut watch, 1).await[0].object,
        live,
        "live events are filtered too"
    );
    assert_quiet(&mut watch).await;

    let mut nodes = store.watch(Some("Node"), 0).await.unwrap();
    assert_eq!(
        take(&mut nodes, 3)
            .await
            .iter()
            .map(|e| e.revision())
            .collect::<Vec<_>>(),
        [base + 4, base + 7, base + 9]
    );
    assert_quiet(&mut nodes).await;
}

pub(super) async fn catch_up_spans_several_pages(open: Open<'_>) {
    let store = open(16);
    let base = store.current_revision().await.unwrap();
    let total = crate::store::watch::PAGE * 2 + 100;
    for i in 0..total {
        let key = if i % 3 == 0 {
            pod("ns", &format!("p{i}"))
        } else {
            Key::new("ConfigMap", "ns", format!("c{i}"))
        };
        store
            .create(key, format!("uid-{i}"), json(j!({"i": i})))
            .await
            .unwrap();
    }
    let mut all = store.watch(None, 0).await.unwrap();
    let revisions: Vec<i64> = take(&mut all, total)
        .await
        .iter()
        .map(|e| e.revision())
        .collect();
    assert_eq!(
        revisions,
        (base + 1..=base + total as i64).collect::<Vec<_>>()
    );

    let mut pods = store.watch(Some("Pod"), 0).await.unwrap();
    let revisions: Vec<i64> = take(&mut pods, total.div_ceil(3))
        .await
        .iter()
        .map(|e| e.revision())
        .collect();
    assert_eq!(
        revisions,
        (base + 1..=base + total as i64)
            .step_by(3)
            .collect::<Vec<_>>()
    );
    assert_quiet(&mut pods).await;
}

/// A writer does `n` updates to Pods interleaved with Node writes while a watcher that
/// starts mid-way (from the revision of the writer's `n/5`-th write) follows Pods: it must
/// see exactly the Pod writes after its start revision, in order, whatever the interleaving
/// of catch-up and live delivery (and lag, when the store's watch buffer is small and the
/// watcher slow).
async fn watcher_races_writer(store: Arc<dyn Store>, n: usize, slow_watcher: bool) {
    for i in 0..5 {
        store
            .create(
                pod("ns", &format!("p{i}")),
                format!("uid-{i}"),
                json(j!({"i": 0})),
            )
            .await
            .unwrap();
    }
    store
        .create(Key::new("Node", "", "n1"), "uid-n1".into(), json(j!({})))
        .await
        .unwrap();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let writer = tokio::spawn({
        let store = store.clone();
        async move {
            let mut started_tx = Some(started_tx);
            let mut pods = vec![];
            for i in 1..=n {
                if i % 4 == 0 {
                    store
                        .update(Key::new("Node", "", "n1"), json(j!({"i": i})), None)
                        .await
                        .unwrap();
                }
                let written = store
                    .update(pod("ns", &format!("p{}", i % 5)), json(j!({"i": i})), None)
                    .await
                    .unwrap();
                let revision = written.revision;
                pods.push(written);
                if i == n / 5 {
                    started_tx.take().unwrap().send(revision).unwrap();
                }
                // The memory store never suspends: without this the writer could finish
                // before the watcher starts, and nothing would race.
                tokio::task::yield_now().await;
            }
            pods
        }
    });
    // Start from a revision the writer has passed, while it goes on writing: the watch
    // catches up from the log while live events pile up in its receiver.
    let from = started_rx.await.unwrap();
    let mut watch = store.watch(Some("Pod"), from).await.unwrap();
    let mut got = vec![];
    let last = loop {
        let event = tokio::time::timeout(TIMEOUT, watch.next())
            .await
            .expect("watch stalled");
        let event = event.expect("watch ended").expect("watch failed");
        if slow_watcher && got.len() % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        got.push(event.object);
        if got.last().unwrap().json == json(j!({"i": n})) {
            break got.last().unwrap().revision;
        }
    };
    let written = writer.await.unwrap();
    let expected: Vec<Stored> = written.into_iter().filter(|o| o.revision > from).collect();
    assert!(
        expected.len() > n / 2,
        "the watcher started mid-way, not at the end"
    );
    assert!(
        got.windows(2).all(|w| w[0].revision < w[1].revision),
        "strictly increasing"
    );
    assert_eq!(
        got, expected,
        "exactly the Pod writes after {from}: no gap, no duplicate"
    );
    assert_eq!(
        last,
        store
            .list("Pod", None)
            .await
            .unwrap()
            .0
            .iter()
            .map(|o| o.revision)
            .max()
            .unwrap()
    );
    assert_quiet(&mut watch).await;
}

pub(super) async fn live_events_follow_catch_up_under_concurrent_writes(open: Open<'_>) {
    watcher_races_writer(open(crate::store::DEFAULT_WATCH_BUFFER), 500, false).await;
}

pub(super) async fn lagging_watcher_rereads_the_log(open: Open<'_>) {
    watcher_races_writer(open(4), 500, true).await;
}

pub(super) async fn lagging_watcher_behind_compaction_gets_compacted(open: Open<'_>) {
    let store = open(2);
    let base = store.current_revision().await.unwrap();
    store
        .create(pod("ns", "a"), "uid-a".into(), json(j!({"i": 0})))
        .await
        .unwrap();
    let mut watch = store.watch(None, base + 1).await.unwrap();
    for i in 1..=10 {
        store
            .update(pod("ns", "a"), json(j!({"i": i})), None)
            .await
            .unwrap();
    }
    store.compact(base + 11).await.unwrap();
    // The buffer overflowed and the events it dropped are compacted away: the watcher
    // cannot be told what it missed, so it is told to relist.
    let item = tokio::time::timeout(TIMEOUT, watch.next()).await.unwrap();
    assert!(
        matches!(
            item,
            Some(Err(StoreError::Compacted {
                requested,
                oldest
            })) if requested == base + 1 && oldest == base + 11
        ),
        "{item:?}"
    );
    assert!(
        tokio::time::timeout(TIMEOUT, watch.next())
            .await
            .unwrap()
            .is_none(),
        "the stream ends"
    );
}

pub(super) async fn compactor_keeps_the_last_revisions(open: Open<'_>) {
    let store = open(16);
    let base = store.current_revision().await.unwrap();
    for i in 0..25 {
        store
            .create(
                pod("ns", &format!("p{i}")),
                format!("uid-{i}"),
                json(j!({})),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        compact_keeping(store.as_ref(), 10).await.unwrap(),
        Some(base + 15)
    );
    assert_eq!(
        compact_keeping(store.as_ref(), 10).await.unwrap(),
        None,
        "nothing new to drop"
    );
    for i in 25..30 {
        store
            .create(
                pod("ns", &format!("p{i}")),
                format!("uid-{i}"),
                json(j!({})),
            )
            .await
            .unwrap();
    }
    let compactor = spawn_compactor(store.clone(), 10, Duration::from_millis(10));
    tokio::time::timeout(TIMEOUT, async {
        while store.compacted_revision().await.unwrap() != base + 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the compactor compacted to 20");
    compactor.abort();
    let mut watch = store.watch(None, base + 20).await.unwrap();
    assert_eq!(take(&mut watch, 10).await[0].revision(), base + 21);
    assert_eq!(store.list("Pod", None).await.unwrap().0.len(), 30);
}
