use serde_json::json;

use super::*;

/// What kubectl get sends.
const KUBECTL: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn now() -> jiff::Timestamp {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

fn tables(accept: &str, query: &str) -> Result<Option<Tables>, RestError> {
    Tables::for_accept("Pod", accept, &Query::parse(Some(query)))
}

fn pod(name: &str) -> Value {
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "12",
                     "labels": {"app": "web"}, "creationTimestamp": "2026-03-01T11:59:30Z"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "n1"},
        "status": {"phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
            "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "state": {"running": {}}}]},
    })
}

/// A list's Table as a client reads it.
fn list(t: &Tables, items: &[Value], metadata: Value, now: jiff::Timestamp) -> Value {
    let items = items.iter().cloned().map(Ok::<_, ()>);
    serde_json::from_slice(&t.list_bytes(items, metadata, now).unwrap()).unwrap()
}

#[test]
fn the_accept_header_picks_the_table_version() {
    assert_eq!(wants_table(KUBECTL), Some(TableVersion::V1));
    assert_eq!(
        wants_table("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json"),
        Some(TableVersion::V1Beta1)
    );
    // An unknown version or another encoding is passed over for the next one.
    assert_eq!(
        wants_table("application/json;as=Table;v=v2;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io"),
        Some(TableVersion::V1)
    );
    assert_eq!(
        wants_table(
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json"
        ),
        None
    );
    assert_eq!(wants_table("application/json"), None);
    assert_eq!(wants_table("*/*"), None);
    assert_eq!(wants_table(""), None);
    assert_eq!(
        wants_table("application/json;as=Table;v=v1;g=example.com"),
        None
    );
}

#[test]
fn a_list_is_a_row_per_object_with_the_lists_version_and_continue() {
    let t = tables(KUBECTL, "limit=2").unwrap().unwrap();
    let metadata = json!({"resourceVersion": "40", "continue": "abc", "remainingItemCount": 3});
    let table = list(&t, &[pod("a"), pod("b")], metadata.clone(), now());
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(table["metadata"], metadata);
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(table["columnDefinitions"][0]["format"], "name");
    assert_eq!(table["columnDefinitions"][5]["priority"], 1);
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["cells"],
        json!([
            "a",
            "1/1",
            "Running",
            "0",
            "30s",
            "10.42.0.5",
            "n1",
            "<none>",
            "<none>"
        ])
    );
    // The default includeObject: the metadata kubectl reads NAMESPACE and labels from.
    assert_eq!(
        rows[1]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
               "metadata": pod("b")["metadata"]})
    );
    assert!(rows[0].get("conditions").is_none());
}

#[test]
fn include_object_chooses_what_each_row_carries() {
    let whole = tables(KUBECTL, "includeObject=Object").unwrap().unwrap();
    let table = list(&whole, &[pod("a")], json!({}), now());
    assert_eq!(table["rows"][0]["object"], pod("a"));
    let none = tables(KUBECTL, "includeObject=None").unwrap().unwrap();
    assert_eq!(
        list(&none, &[pod("a")], json!({}), now())["rows"][0]["object"],
        Value::Null
    );
    let beta = tables("application/json;as=Table;v=v1beta1;g=meta.k8s.io", "")
        .unwrap()
        .unwrap();
    let table = list(&beta, &[pod("a")], json!({}), now());
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(
        table["rows"][0]["object"]["apiVersion"],
        "meta.k8s.io/v1beta1"
    );
    let e = tables(KUBECTL, "includeObject=Everything").err().unwrap();
    assert_eq!(e.code, 400);
    assert_eq!(
        e.message,
        r#"unrecognized includeObject value: "Everything""#
    );
    assert!(tables("application/json", "includeObject=Everything")
        .unwrap()
        .is_none());
}

#[test]
fn one_object_is_a_one_row_table_and_a_watch_sends_the_columns_once() {
    let mut t = tables(KUBECTL, "watch=true").unwrap().unwrap();
    let first = t.object(&pod("a"), now());
    assert_eq!(first["metadata"], json!({"resourceVersion": "12"}));
    assert_eq!(first["rows"].as_array().unwrap().len(), 1);
    assert_eq!(first["columnDefinitions"].as_array().unwrap().len(), 9);
    let next = t.object(&pod("b"), now());
    assert_eq!(next["columnDefinitions"], Value::Null);
    assert_eq!(next["rows"][0]["cells"][0], "b");
}

#[test]
fn a_finished_pods_row_is_marked_completed() {
    let t = tables(KUBECTL, "").unwrap().unwrap();
    let mut done = pod("done");
    done["status"] = json!({"phase": "Succeeded"});
    let table = list(&t, &[done], json!({}), now());
    assert_eq!(table["rows"][0]["conditions"][0]["type"], "Completed");
    assert_eq!(table["rows"][0]["conditions"][0]["reason"], "Succeeded");
}

#[test]
fn a_watch_events_stored_object_becomes_a_table() {
    let mut t = tables(KUBECTL, "").unwrap().unwrap();
    let stored = serde_json::to_vec(&pod("a")).unwrap();
    let table: Value = serde_json::from_slice(&t.event_object(&stored, now())).unwrap();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"][0]["cells"][0], "a");
    assert_eq!(t.event_object(b"not json", now()), b"not json");
}

#[test]
fn an_object_that_fails_to_decode_fails_the_whole_list() {
    let t = tables(KUBECTL, "").unwrap().unwrap();
    let items = [Ok(pod("a")), Err("corrupt"), Ok(pod("b"))];
    assert_eq!(t.list_bytes(items, json!({}), now()), Err("corrupt"));
}
