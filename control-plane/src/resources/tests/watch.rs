use futures::StreamExt;
use tonic::Code;

use super::*;

/// The next `n` events as `TYPE name@rv` (BOOKMARK as `BOOKMARK @rv`).
async fn take(events: &mut WatchStream, n: usize) -> Vec<String> {
    let mut seen = Vec::with_capacity(n);
    while seen.len() < n {
        let event = tokio::time::timeout(TIMEOUT, events.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .expect("not an error");
        let name = event
            .object
            .as_ref()
            .map(|o| o.name.as_str())
            .unwrap_or_default();
        if let Some(object) = &event.object {
            assert_eq!(object.resource_version, event.resource_version);
            assert_eq!(
                json(object)["metadata"]["resourceVersion"],
                event.resource_version
            );
        }
        seen.push(format!(
            "{} {name}@{}",
            event.r#type, event.resource_version
        ));
    }
    seen
}

/// Nothing more arrives for a short while.
async fn quiet(events: &mut WatchStream) {
    let next = tokio::time::timeout(Duration::from_millis(200), events.next()).await;
    assert!(next.is_err(), "unexpected event: {next:?}");
}

fn scope(selector: &str) -> Scope {
    Scope::new("ConfigMap", "default", false, selector).unwrap()
}

#[tokio::test]
async fn an_empty_resource_version_lists_first() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, &config_map("a", "default", "1")).await;
    apply_ok(store, &config_map("b", "default", "1")).await;
    let rev = store.current_revision().await.unwrap();
    let mut events = watch(store, scope(""), "").await.unwrap();
    assert_eq!(
        take(&mut events, 3).await,
        [
            format!("ADDED a@{}", rev - 1),
            format!("ADDED b@{rev}"),
            format!("BOOKMARK @{rev}")
        ]
    );
    apply_ok(store, &config_map("a", "default", "2")).await;
    assert_eq!(
        take(&mut events, 1).await,
        [format!("MODIFIED a@{}", rev + 1)]
    );
}

#[tokio::test]
async fn a_resumed_watch_gets_exactly_the_missed_events() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(
        store,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n",
    )
    .await;
    let start = store.current_revision().await.unwrap().to_string();
    let mut events = watch(store, scope(""), &start).await.unwrap();
    apply_ok(store, &config_map("a", "default", "1")).await;
    let seen = take(&mut events, 1).await;
    let last_seen = seen[0].rsplit('@').next().unwrap().to_string();
    drop(events); // the client disconnects

    // While it is away: changes in scope, and changes it must not see.
    apply_ok(store, &config_map("a", "default", "2")).await;
    apply_ok(store, &config_map("x", "other", "1")).await;
    apply_ok(store, NGINX_POD).await;
    apply_ok(store, &config_map("b", "default", "1")).await;
    delete(store, &SystemClock, "ConfigMap", "", "a", "")
        .await
        .unwrap();
    let rev = store.current_revision().await.unwrap();

    let mut events = watch(store, scope(""), &last_seen).await.unwrap();
    assert_eq!(
        take(&mut events, 3).await,
        [
            // (the pod's admission wrote the `default` ServiceAccount before it)
            format!("MODIFIED a@{}", rev - 5),
            format!("ADDED b@{}", rev - 1),
            format!("DELETED a@{rev}"),
        ]
    );
    quiet(&mut events).await;
    // And it goes on live.
    apply_ok(store, &config_map("b", "default", "2")).await;
    assert_eq!(
        take(&mut events, 1).await,
        [format!("MODIFIED b@{}", rev + 1)]
    );
}

#[tokio::test]
async fn objects_relabelled_out_of_a_selector_are_deleted_from_the_view() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, &config_map("a", "default", "1")).await;
    apply_ok(store, &config_map("b", "default", "1")).await;
    let mut events = watch(store, scope("app=a"), "").await.unwrap();
    let rev = store.current_revision().await.unwrap();
    assert_eq!(
        take(&mut events, 2).await,
        [format!("ADDED a@{}", rev - 1), format!("BOOKMARK @{rev}")]
    );
    set_label(store, "ConfigMap", "", "b", "app", "z").await;
    set_label(store, "ConfigMap", "", "a", "app", "z").await;
    assert_eq!(
        take(&mut events, 1).await,
        [format!("DELETED a@{}", rev + 2)]
    );
    delete(store, &SystemClock, "ConfigMap", "", "a", "")
        .await
        .unwrap();
    quiet(&mut events).await;
}

#[tokio::test]
async fn compacted_resource_versions_say_to_relist() {
    let store = store().await;
    let store = store.as_ref();
    for i in 0..5 {
        apply_ok(store, &config_map("a", "default", &i.to_string())).await;
    }
    store
        .compact(store.current_revision().await.unwrap() - 1)
        .await
        .unwrap();
    let err = match watch(store, scope(""), "1").await {
        Ok(_) => panic!("a compacted revision must be refused"),
        Err(e) => e,
    };
    assert_eq!(code(err.clone()), Code::OutOfRange);
    assert!(err.to_string().contains("list again"), "{err}");
    let err = match watch(store, scope(""), "soon").await {
        Ok(_) => panic!("not a revision"),
        Err(e) => e,
    };
    assert_eq!(code(err), Code::InvalidArgument);
}
