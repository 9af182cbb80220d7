//! JSON merge patch (RFC 7386, `application/merge-patch+json`): `null` deletes a key,
//! objects merge, anything else replaces. As kube-apiserver applies it (evanphx/json-patch
//! v4 `MergePatch`): a body that is not JSON, `null` or a scalar is a 400
//! `Invalid JSON Patch`; an array body replaces the whole document.

use serde_json::{Map, Value};

use super::{check_depth, parse_body, PatchError};

const BAD_PATCH: &str = "Invalid JSON Patch";

/// Applies the merge patch `patch` (the raw request body) to `doc`.
pub fn apply(doc: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let patch = parse_body(patch).map_err(|_| PatchError::Malformed(BAD_PATCH.into()))?;
    check_depth(doc)?;
    let merged = match patch {
        Value::Object(patch) => match doc {
            Value::Object(doc) => {
                let mut doc = doc.clone();
                merge_objects(&mut doc, patch);
                Value::Object(doc)
            }
            // Not a document: the patch, without its nulls, becomes the document.
            _ => {
                let mut patch = Value::Object(patch);
                prune_nulls(&mut patch);
                patch
            }
        },
        Value::Array(_) => {
            let mut patch = patch;
            prune_nulls(&mut patch);
            patch
        }
        _ => return Err(PatchError::Malformed(BAD_PATCH.into())),
    };
    check_depth(&merged)?;
    Ok(merged)
}

fn merge_objects(doc: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            doc.remove(&key);
            continue;
        }
        match doc.get_mut(&key) {
            Some(current) if !current.is_null() => merge_value(current, value),
            _ => {
                let mut value = value;
                prune_nulls(&mut value);
                doc.insert(key, value);
            }
        }
    }
}

/// Objects merge into objects; anything else replaces the current value (without the
/// patch's nulls when the current value was not an object, as the library does).
fn merge_value(current: &mut Value, patch: Value) {
    match (current, patch) {
        (Value::Object(current), Value::Object(patch)) => merge_objects(current, patch),
        (current @ Value::Object(_), patch) => *current = patch,
        (current, mut patch) => {
            prune_nulls(&mut patch);
            *current = patch;
        }
    }
}

/// Drops null members of objects at any depth, inside arrays too; null array items stay.
fn prune_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(prune_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(doc: Value, patch: Value) -> Value {
        apply(&doc, patch.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn rfc7386_examples() {
        // RFC 7386 appendix A, the cases with an object patch.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
            // Null items of arrays stay; a null member is replaced like any value.
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [null, 1]}),
                json!({"a": [null, 1]}),
            ),
            (
                json!({"t": null}),
                json!({"t": {"f": "b", "g": null}}),
                json!({"t": {"f": "b"}}),
            ),
        ];
        for (doc, patch, expected) in cases {
            assert_eq!(merged(doc, patch.clone()), expected, "patch {patch}");
        }
    }

    #[test]
    fn labels_are_merged_and_removed() {
        let doc = json!({"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}});
        let out = merged(doc, json!({"metadata": {"labels": {"a": null, "c": "3"}}}));
        assert_eq!(
            out,
            json!({"metadata": {"name": "x", "labels": {"b": "2", "c": "3"}}})
        );
    }

    #[test]
    fn lists_are_replaced_whole() {
        let doc = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let out = merged(
            doc,
            json!({"spec": {"containers": [{"name": "c", "image": null}]}}),
        );
        assert_eq!(out, json!({"spec": {"containers": [{"name": "c"}]}}));
    }

    #[test]
    fn an_array_body_replaces_the_document() {
        assert_eq!(merged(json!({"a": 1}), json!([1, null])), json!([1, null]));
    }

    #[test]
    fn scalars_null_and_garbage_are_bad_patches() {
        for body in ["1", "\"x\"", "null", "true", "{", ""] {
            assert_eq!(
                apply(&json!({}), body.as_bytes()),
                Err(PatchError::Malformed("Invalid JSON Patch".into())),
                "{body}"
            );
        }
    }
}
