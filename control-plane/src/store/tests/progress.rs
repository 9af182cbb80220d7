//! Progress reports: a watcher learns how far the log has been read, past other kinds'
//! writes, and a report never runs ahead of an event it has not yet yielded.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::json as j;

use super::{json, pod, Open, TIMEOUT};
use crate::store::{Key, ProgressStream, Store, Watched};

fn config_map(name: &str) -> Key {
    Key::new("ConfigMap", "ns", name)
}

async fn next(watch: &mut ProgressStream) -> Watched {
    tokio::time::timeout(TIMEOUT, watch.next())
        .await
        .expect("watch stalled")
        .expect("watch ended")
        .expect("watch failed")
}

/// Items until a progress report (or an event) reaches `revision`.
async fn until(watch: &mut ProgressStream, revision: i64) -> Vec<Watched> {
    let mut items = vec![];
    loop {
        let item = next(watch).await;
        let at = match &item {
            Watched::Event(e) => e.revision(),
            Watched::Progress(r) => *r,
        };
        items.push(item);
        if at >= revision {
            return items;
        }
    }
}

pub(super) async fn other_kinds_writes_advance_progress(open: Open<'_>) {
    let store = open(16);
    let start = store.current_revision().await.unwrap();
    let mut watch = store
        .watch_progress(Some("ConfigMap"), start)
        .await
        .unwrap();
    for name in ["a", "b", "c"] {
        store
            .create(pod("ns", name), format!("uid-{name}"), json(j!({})))
            .await
            .unwrap();
    }
    let now = store.current_revision().await.unwrap();
    let items = until(&mut watch, now).await;
    assert!(
        items.iter().all(|i| matches!(i, Watched::Progress(_))),
        "only progress for other kinds' writes: {items:?}"
    );
    assert_eq!(items.last(), Some(&Watched::Progress(now)));

    // An event of the kind comes as itself, with no report before it.
    let cm = store
        .create(config_map("x"), "uid-x".into(), json(j!({})))
        .await
        .unwrap();
    match next(&mut watch).await {
        Watched::Event(e) => assert_eq!(e.object, cm),
        other => panic!("expected the ConfigMap, got {other:?}"),
    }
    let node = store
        .create(Key::new("Node", "", "n1"), "uid-n1".into(), json(j!({})))
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await, Watched::Progress(node.revision));

    // The plain watch carries no reports.
    let mut plain = store.watch(Some("ConfigMap"), start).await.unwrap();
    assert_eq!(plain.next().await.unwrap().unwrap().object, cm);
    super::assert_quiet(&mut plain).await;
}

pub(super) async fn a_resumed_watch_reports_the_log_it_read(open: Open<'_>) {
    let store = open(16);
    let start = store.current_revision().await.unwrap();
    for name in ["a", "b"] {
        store
            .create(pod("ns", name), format!("uid-{name}"), json(j!({})))
            .await
            .unwrap();
    }
    let now = store.current_revision().await.unwrap();
    // Nothing of the kind since `start`: the watch says at once how far it has read.
    let mut watch = store
        .watch_progress(Some("ConfigMap"), start)
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await, Watched::Progress(now));
}

/// Under concurrent writes of two kinds and a tiny live buffer (so the watcher lags and
/// re-reads the log), every event of the kind arrives once, in order, and no report
/// covers an event not yet yielded.
pub(super) async fn progress_never_passes_an_undelivered_event(open: Open<'_>) {
    let store: Arc<dyn Store> = open(2);
    let start = store.current_revision().await.unwrap();
    let mut watch = store
        .watch_progress(Some("ConfigMap"), start)
        .await
        .unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut config_maps = vec![];
            for i in 0..300 {
                if i % 3 == 0 {
                    let cm = config_map(&format!("cm-{i}"));
                    config_maps.push(store.create(cm, "u".into(), json(j!({}))).await.unwrap());
                } else {
                    let p = pod("ns", &format!("p-{i}"));
                    store.create(p, "u".into(), json(j!({}))).await.unwrap();
                }
            }
            config_maps
        })
    };
    let written = writer.await.unwrap();
    let now = store.current_revision().await.unwrap();
    let items = until(&mut watch, now).await;
    let mut last = start;
    let mut events = vec![];
    for item in items {
        match item {
            Watched::Event(e) => {
                assert!(e.revision() > last, "event {} after {last}", e.revision());
                last = e.revision();
                events.push(e.object);
            }
            Watched::Progress(r) => {
                assert!(r > last, "progress {r} after {last}");
                last = r;
            }
        }
    }
    assert_eq!(events, written);
}
