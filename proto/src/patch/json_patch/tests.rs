use serde_json::{json, Value};

use super::apply;
use crate::patch::PatchError;

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web", "a/b": "x", "m~n": "y"}},
        "spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.25"},
            {"name": "sidecar", "image": "busybox"}
        ]}
    })
}

fn patched(ops: Value) -> Result<Value, PatchError> {
    apply(&pod(), ops.to_string().as_bytes())
}

fn unprocessable(ops: Value) -> String {
    match patched(ops) {
        Err(PatchError::Unprocessable(message)) => message,
        other => panic!("expected a 422, got {other:?}"),
    }
}

#[test]
fn add_sets_object_keys_and_inserts_into_arrays() {
    let out = patched(json!([
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "add", "path": "/spec/containers/1", "value": {"name": "mid"}},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "last"}},
        {"op": "add", "path": "/spec/containers/-1", "value": {"name": "minus-one"}}
    ]))
    .unwrap();
    assert_eq!(out["metadata"]["labels"]["tier"], "front");
    let names: Vec<&str> = out["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // -1 counts from the end of the grown array: the library appends.
    assert_eq!(names, ["nginx", "mid", "sidecar", "last", "minus-one"]);
}

#[test]
fn escaped_pointers_reach_keys_with_slash_and_tilde() {
    let out = patched(json!([
        {"op": "replace", "path": "/metadata/labels/a~1b", "value": "1"},
        {"op": "remove", "path": "/metadata/labels/m~0n"}
    ]))
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "a/b": "1"}));
}

#[test]
fn remove_replace_move_copy_and_test() {
    let out = patched(json!([
        {"op": "test", "path": "/spec/containers/0/image", "value": "nginx:1.25"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.26"},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
        {"op": "move", "from": "/spec/containers/1", "path": "/spec/containers/0"},
        {"op": "remove", "path": "/metadata/labels/a~1b"},
        {"op": "remove", "path": "/metadata/labels/m~0n"}
    ]))
    .unwrap();
    assert_eq!(out["spec"]["containers"][0]["name"], "sidecar");
    assert_eq!(out["spec"]["containers"][1]["image"], "nginx:1.26");
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "copied": "web"})
    );
}

#[test]
fn replace_of_a_missing_object_key_adds_it_as_kube_apiserver_does() {
    let out = patched(json!([{"op": "replace", "path": "/metadata/labels/new", "value": "v"}]));
    assert_eq!(out.unwrap()["metadata"]["labels"]["new"], "v");
}

#[test]
fn replace_of_the_root_takes_a_container_value() {
    let out = patched(json!([{"op": "replace", "path": "", "value": {"kind": "Pod"}}]));
    assert_eq!(out.unwrap(), json!({"kind": "Pod"}));
}

#[test]
fn a_failed_test_is_unprocessable_and_nothing_is_applied() {
    let message = unprocessable(json!([
        {"op": "add", "path": "/metadata/labels/x", "value": "y"},
        {"op": "test", "path": "/spec/containers/0/image", "value": "other"}
    ]));
    assert_eq!(
        message,
        "testing value /spec/containers/0/image failed: test failed"
    );
}

#[test]
fn test_with_null_matches_a_missing_key() {
    assert!(patched(json!([{"op": "test", "path": "/metadata/nothing", "value": null}])).is_ok());
}

#[test]
fn missing_paths_are_worded_as_the_library_words_them() {
    assert_eq!(
        unprocessable(json!([{"op": "add", "path": "/spec/nothing/x", "value": 1}])),
        "add operation does not apply: doc is missing path: \"/spec/nothing/x\": missing value"
    );
    assert_eq!(
        unprocessable(json!([{"op": "remove", "path": "/metadata/labels/none"}])),
        "error in remove for path: '/metadata/labels/none': Unable to remove nonexistent key: none: missing value"
    );
    assert_eq!(
        unprocessable(json!([{"op": "replace", "path": "/spec/containers/5", "value": 1}])),
        "replace operation does not apply: doc is missing key: /spec/containers/5: missing value"
    );
    assert_eq!(
        unprocessable(json!([{"op": "add", "path": "/spec/containers/9", "value": 1}])),
        "error in add for path: '/spec/containers/9': Unable to access invalid index: 9: invalid index referenced"
    );
    assert_eq!(
        unprocessable(json!([{"op": "add", "path": "/spec/containers/x", "value": 1}])),
        "error in add for path: '/spec/containers/x': value was not a proper array index: 'x': strconv.Atoi: parsing \"x\": invalid syntax"
    );
    assert_eq!(
        unprocessable(json!([{"op": "move", "from": "/nowhere/x", "path": "/a"}])),
        "move operation does not apply: doc is missing from path: /nowhere/x: missing value"
    );
    assert_eq!(
        unprocessable(json!([{"op": "test", "path": "/nowhere/x", "value": 1}])),
        "test operation does not apply: is missing path: /nowhere/x: missing value"
    );
    assert_eq!(
        unprocessable(json!([{"op": "copy", "from": "/kind", "path": "/nowhere/x"}])),
        "copy operation does not apply: doc is missing destination path: /nowhere/x: missing value"
    );
    assert_eq!(
        unprocessable(json!([{"op": "frobnicate", "path": "/kind"}])),
        "Unexpected kind: frobnicate"
    );
    assert_eq!(
        unprocessable(json!([{"path": "/kind"}])),
        "Unexpected kind: unknown"
    );
    assert_eq!(
        unprocessable(json!([{"op": "add", "value": 1}])),
        "add operation failed to decode path: missing value"
    );
    assert_eq!(
        unprocessable(json!([{"op": "replace", "path": 7, "value": 1}])),
        "replace operation failed to decode path: json: cannot unmarshal number into Go value of type string"
    );
    assert_eq!(
        unprocessable(json!([{"op": "move", "path": "/a"}])),
        "move operation failed to decode from: operation, missing from field: missing value"
    );
}

#[test]
fn moving_a_value_into_itself_finds_no_destination() {
    assert_eq!(
        unprocessable(json!([{"op": "move", "from": "/spec", "path": "/spec/containers/0"}])),
        "move operation does not apply: doc is missing destination path: /spec/containers/0: missing value"
    );
}

#[test]
fn bodies_that_are_not_patches_are_bad_requests() {
    for (body, message) in [
        (
            "{}",
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
        ),
        (
            "[\"add\"]",
            "json: cannot unmarshal string into Go value of type jsonpatch.Operation",
        ),
    ] {
        assert_eq!(
            apply(&pod(), body.as_bytes()),
            Err(PatchError::Malformed(message.into()))
        );
    }
    assert!(matches!(
        apply(&pod(), b"[{\"op\":"),
        Err(PatchError::Malformed(_))
    ));
    assert!(matches!(apply(&pod(), b""), Err(PatchError::Malformed(_))));
}

#[test]
fn more_than_ten_thousand_operations_are_too_large() {
    let ops: Vec<Value> = (0..10_001)
        .map(|_| json!({"op": "test", "path": "/kind", "value": "Pod"}))
        .collect();
    assert_eq!(
        apply(&pod(), Value::Array(ops).to_string().as_bytes()),
        Err(PatchError::TooLarge(
            "The allowed maximum operations in a JSON patch is 10000, got 10001".into()
        ))
    );
}

#[test]
fn copies_that_grow_the_document_past_the_limit_are_refused() {
    let mut ops = vec![json!({"op": "add", "path": "/blob", "value": ["x".repeat(1000)]})];
    for _ in 0..30 {
        ops.push(json!({"op": "copy", "from": "/blob", "path": "/blob/-"}));
        ops.push(json!({"op": "copy", "from": "/blob", "path": "/blob2"}));
        ops.push(json!({"op": "move", "from": "/blob2", "path": "/blob/-"}));
    }
    match apply(&pod(), Value::Array(ops).to_string().as_bytes()) {
        Err(PatchError::Unprocessable(message)) => assert!(
            message.starts_with(
                "Unable to complete the copy, the accumulated size increase of copy is"
            ),
            "{message}"
        ),
        other => panic!("expected the copy limit, got {other:?}"),
    }
}

#[test]
fn an_empty_patch_is_the_identity() {
    assert_eq!(patched(json!([])).unwrap(), pod());
}
