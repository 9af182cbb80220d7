//! Properties of the three engines over arbitrary documents and bodies: no input
//! panics, merge patch's laws hold, strategic merge patch without merge-keyed lists is
//! merge patch, and deep nesting is refused with an error.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::tests::with_deep_document;
use super::{json_patch, merge_patch, strategic, strict_errors, PatchError};

/// Keys that reach the directives and merge lists as well as plain ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,2}",
        Just("$patch".to_string()),
        Just("$retainKeys".to_string()),
        Just("$setElementOrder/containers".to_string()),
        Just("$setElementOrder/finalizers".to_string()),
        Just("$deleteFromPrimitiveList/finalizers".to_string()),
        Just("$setElementOrderbroken".to_string()),
        Just("containers".to_string()),
        Just("finalizers".to_string()),
        Just("name".to_string()),
        Just("env".to_string()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-c$/~0-9-]{0,4}".prop_map(Value::String),
        Just(json!("delete")),
        Just(json!("replace")),
        Just(json!("merge")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), json_value(), 0..6).prop_map(|m| m.into_iter().collect())
}

/// A container as a pod holds it, or (in patches) with directives, nulls and junk.
fn container() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop_oneof![Just("a"), Just("b"), Just("c")]),
        json_value(),
        prop::option::of(prop_oneof![
            Just("delete"),
            Just("replace"),
            Just("merge"),
            Just("x")
        ]),
        prop::collection::vec((prop_oneof![Just("A"), Just("B")], json_value()), 0..3),
    )
        .prop_map(|(name, image, directive, env)| {
            let mut c = Map::new();
            if let Some(name) = name {
                c.insert("name".into(), json!(name));
            }
            c.insert("image".into(), image);
            if let Some(directive) = directive {
                c.insert("$patch".into(), json!(directive));
            }
            let env: Vec<Value> = env
                .into_iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect();
            c.insert("env".into(), Value::Array(env));
            Value::Object(c)
        })
}

/// A pod-shaped object whose merge lists (containers, env, finalizers) are exercised,
/// with arbitrary members mixed in.
fn pod_like() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(), 0..4),
        prop::collection::vec(prop_oneof![Just(json!("f1")), Just(json!("f2")), scalar()], 0..3),
        object(),
        prop::collection::vec(prop_oneof![Just(json!({"name": "a"})), Just(json!({"name": "c"})), json_value()], 0..3),
        object(),
    )
        .prop_map(|(containers, finalizers, junk, order, spec_junk)| {
            let mut spec = spec_junk;
            spec.insert("containers".into(), Value::Array(containers));
            spec.insert("$setElementOrder/containers".into(), Value::Array(order));
            json!({
                "metadata": {"finalizers": finalizers, "$deleteFromPrimitiveList/finalizers": ["f1"], "labels": junk},
                "spec": spec,
            })
        })
}

/// A merge patch value with no null anywhere: nulls inside values are where RFC 7386
/// and evanphx/json-patch part ways, and they are not what the laws are about.
fn null_free() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-c]{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Only maps and scalars, keys without `$`: where strategic merge patch has nothing to
/// do that merge patch does not.
fn maps_only(nulls: bool) -> impl Strategy<Value = Value> {
    let scalars = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-c]{0,3}".prop_map(Value::String),
    ];
    let leaf = if nulls {
        prop_oneof![3 => scalars, 1 => Just(Value::Null)].boxed()
    } else {
        scalars.boxed()
    };
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop::collection::btree_map("[a-e]", inner, 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    })
}

fn map_doc(nulls: bool) -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-e]", maps_only(nulls), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

const KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "Node",
    "Service",
    "ConfigMap",
    "CronJob",
    "Widget",
];

fn op() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("add"),
            Just("remove"),
            Just("replace"),
            Just("move"),
            Just("copy"),
            Just("test"),
            Just("x")
        ],
        "(/([a-c]|-|[0-9]|~0|~1|~2)){0,4}",
        "(/([a-c]|-|[0-9])){0,3}",
        prop::option::of(json_value()),
    )
        .prop_map(|(op, path, from, value)| {
            let mut o = json!({"op": op, "path": path, "from": from});
            if let Some(value) = value {
                o["value"] = value;
            }
            o
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(doc in json_value(), body in prop::collection::vec(any::<u8>(), 0..64), kind in prop::sample::select(KINDS)) {
        let _ = json_patch::apply(&doc, &body);
        let _ = merge_patch::apply(&doc, &body);
        let _ = strategic::apply(&doc, &body, kind);
        let _ = strict_errors(&body, true);
    }

    #[test]
    fn arbitrary_json_bodies_never_panic(doc in json_value(), patch in json_value(), kind in prop::sample::select(KINDS)) {
        let body = patch.to_string();
        let _ = json_patch::apply(&doc, body.as_bytes());
        let _ = merge_patch::apply(&doc, body.as_bytes());
        let _ = strategic::apply(&doc, body.as_bytes(), kind);
        let _ = strict_errors(body.as_bytes(), false);
    }

    #[test]
    fn json_patch_operations_never_panic(doc in pod_like(), ops in prop::collection::vec(op(), 0..8)) {
        let _ = json_patch::apply(&doc, Value::Array(ops).to_string().as_bytes());
    }

    #[test]
    fn strategic_patches_of_pods_never_panic(doc in pod_like(), patch in pod_like(), kind in prop::sample::select(KINDS)) {
        if let Ok(out) = strategic::apply(&doc, patch.to_string().as_bytes(), kind) {
            prop_assert!(out.is_object());
        }
    }

    #[test]
    fn merge_patch_of_an_empty_object_is_the_identity(doc in object()) {
        let doc = Value::Object(doc);
        prop_assert_eq!(merge_patch::apply(&doc, b"{}").unwrap(), doc);
    }

    #[test]
    fn merge_patch_of_the_documents_own_keys_is_idempotent(
        doc in prop::collection::btree_map("[a-d]", null_free(), 0..5),
        values in prop::collection::vec(prop::option::of(null_free()), 0..5),
    ) {
        let keys: Vec<&String> = doc.keys().collect();
        let patch: Map<String, Value> = keys
            .iter()
            .zip(values)
            .map(|(k, v)| ((*k).clone(), v.unwrap_or(Value::Null)))
            .collect();
        let doc = Value::Object(doc.clone().into_iter().collect());
        let body = Value::Object(patch).to_string();
        let once = merge_patch::apply(&doc, body.as_bytes()).unwrap();
        let twice = merge_patch::apply(&once, body.as_bytes()).unwrap();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn strategic_without_merge_lists_is_merge_patch(doc in map_doc(false), patch in map_doc(true), kind in prop::sample::select(&KINDS[..6])) {
        let body = patch.to_string();
        prop_assert_eq!(
            strategic::apply(&doc, body.as_bytes(), kind),
            merge_patch::apply(&doc, body.as_bytes())
        );
    }
}

fn refused() -> Result<Value, PatchError> {
    Err(PatchError::Malformed("exceeded max depth of 100".into()))
}

#[test]
fn bodies_nested_ten_thousand_deep_are_refused() {
    let nested_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let nested_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let doc = json!({"kind": "Pod"});
    for body in [&nested_object, &nested_array] {
        assert!(matches!(
            json_patch::apply(&doc, body.as_bytes()),
            Err(PatchError::Malformed(_))
        ));
        assert!(matches!(
            merge_patch::apply(&doc, body.as_bytes()),
            Err(PatchError::Malformed(_))
        ));
        assert!(matches!(
            strategic::apply(&doc, body.as_bytes(), "Pod"),
            Err(PatchError::Malformed(_))
        ));
    }
}

#[test]
fn documents_nested_ten_thousand_deep_are_refused() {
    with_deep_document(10_000, |doc| {
        assert_eq!(json_patch::apply(doc, b"[]"), refused());
        assert_eq!(merge_patch::apply(doc, b"{}"), refused());
        assert_eq!(strategic::apply(doc, b"{}", "Pod"), refused());
    });
}

#[test]
fn patches_that_would_nest_too_deep_are_refused() {
    // Each body is within serde's limit, but the result would exceed what can be read back.
    let deep = |levels: usize| format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels));
    with_deep_document(90, |doc| {
        let patch = format!(
            "[{{\"op\":\"add\",\"path\":\"/{}b\",\"value\":{}}}]",
            "a/".repeat(89),
            deep(60)
        );
        assert_eq!(json_patch::apply(doc, patch.as_bytes()), refused());
    });
    let doc = json!({});
    assert_eq!(merge_patch::apply(&doc, deep(101).as_bytes()), refused());
    assert_eq!(
        strategic::apply(&doc, deep(101).as_bytes(), "Pod"),
        refused()
    );
    assert!(strategic::apply(&doc, deep(99).as_bytes(), "Pod").is_ok());
}
