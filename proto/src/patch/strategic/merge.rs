//! Merging a patch map into an object map, as apimachinery's `mergeMap` does on the
//! server (`pkg/util/strategicpatch/patch.go`, with `MergeParallelList` and
//! `IgnoreUnmatchedNulls`): directives first (`$patch`, `$retainKeys`,
//! `$setElementOrder/…`), then each key: null deletes, a new key takes the patch's value
//! without nulls and directives, maps merge, lists follow their field's strategy, and
//! anything else replaces.

use serde_json::{Map, Value};

use super::element_order::order_by_set_element_order;
use super::errors::{bad_arg_type, bad_patch_type, malformed, no_merge_key};
use super::lists::merge_list;
use super::schema::Schema;
use crate::patch::PatchError;

pub(super) const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
pub(super) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
pub(super) const SET_ELEMENT_ORDER: &str = "$setElementOrder";

type Object = Map<String, Value>;

pub(super) fn merge_map(
    mut original: Object,
    mut patch: Object,
    schema: Schema,
) -> Result<Object, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            // The patch's map, as it is, replaces the original one.
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }
    retain_keys(&mut original, &mut patch)?;
    set_element_orders(&mut original, &mut patch, schema)?;

    for (key, patch_value) in patch {
        let (key, delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let target = directive_target(&key, DELETE_FROM_PRIMITIVE_LIST)?;
            (target.to_string(), true)
        } else {
            (key, false)
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(current) = original.get_mut(&key) else {
            if !delete_list {
                if let Some(value) = new_value(patch_value) {
                    original.insert(key, value);
                }
            }
            continue;
        };
        if go_type(current) != go_type(&patch_value) {
            if !delete_list {
                match new_value(patch_value) {
                    Some(value) => *current = value,
                    None => {
                        original.remove(&key);
                    }
                }
            }
            continue;
        }
        match (current.take(), patch_value) {
            (Value::Object(current_map), Value::Object(patch_map)) => {
                let (field_schema, _) = schema.field(&key);
                original.insert(
                    key,
                    Value::Object(merge_map(current_map, patch_map, field_schema)?),
                );
            }
            (Value::Array(current_list), Value::Array(patch_list)) => {
                let (item_schema, strategy) = schema.field(&key);
                let merged = if strategy.merge || delete_list {
                    merge_list(
                        current_list,
                        patch_list,
                        item_schema,
                        strategy.merge_key,
                        delete_list,
                    )?
                } else {
                    patch_list
                };
                original.insert(key, Value::Array(merged));
            }
            (_, scalar) => match remove_directives(scalar) {
                Some(value) => {
                    original.insert(key, value);
                }
                None => {
                    original.remove(&key);
                }
            },
        }
    }
    Ok(original)
}

/// A value for a key the original lacks (or holds with another type): the patch's
/// value without its nulls and directives; `None` when it is itself a directive.
fn new_value(mut value: Value) -> Option<Value> {
    discard_nulls(&mut value);
    remove_directives(value)
}

/// The Go type of a decoded value: patch values replace originals of another type.
fn go_type(value: &Value) -> &'static str {
    super::super::go_fmt::type_name(value)
}

/// `$retainKeys: [...]`: every key the patch sets must be listed, and the original
/// keeps only the listed keys (a volume switching from `emptyDir` to `hostPath`).
fn retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(listed) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad = || malformed("invalid patch format of retainKeys");
    let Value::Array(listed) = listed else {
        return Err(bad());
    };
    let kept = |key: &str| listed.iter().any(|k| k.as_str() == Some(key));
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || key.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !kept(key) {
            return Err(bad());
        }
    }
    original.retain(|key, _| kept(key));
    Ok(())
}

/// `$setElementOrder/<list>: [...]`: merges `<list>` of the patch (if any) into the
/// original's and orders the result as listed, items only on the server keeping their
/// place relative to their neighbours.
fn set_element_orders(
    original: &mut Object,
    patch: &mut Object,
    schema: Schema,
) -> Result<(), PatchError> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive in directives {
        let Some(order) = patch.remove(&directive) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type("[]interface {}", &order));
        };
        let key = directive_target(&directive, SET_ELEMENT_ORDER)?.to_string();
        let list = |value: Option<&Value>| match value {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items.clone())),
            Some(other) => Err(bad_arg_type("[]interface {}", other)),
        };
        let current = list(original.get(&key))?;
        let patched = list(patch.get(&key))?;
        let (item_schema, strategy) = schema.field(&key);
        let ordered = order_by_set_element_order(current, patched, &order, item_schema, strategy)?;
        if let Some(ordered) = ordered {
            original.insert(key.clone(), Value::Array(ordered));
            patch.remove(&key);
        }
    }
    Ok(())
}

/// The list a `$deleteFromPrimitiveList/<list>` or `$setElementOrder/<list>` key names.
fn directive_target<'a>(key: &'a str, prefix: &str) -> Result<&'a str, PatchError> {
    match key.split_once('/') {
        Some((head, target)) if head == prefix => Ok(target),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => {
            Err(malformed("invalid patch format of primitive list"))
        }
        _ => Err(malformed("invalid patch format of setElementOrder list")),
    }
}

/// Drops null members of maps at any depth (inside lists too).
pub(super) fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Drops maps carrying `$patch` at any depth; `None` when `value` is one.
pub(super) fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                map.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// The value of `key` in a list item that must be a map holding it.
pub(super) fn merge_key_of<'a>(item: &'a Value, key: &str) -> Result<&'a Value, PatchError> {
    let Value::Object(map) = item else {
        return Err(bad_arg_type("map[string]interface {}", item));
    };
    map.get(key).ok_or_else(|| no_merge_key(map, key))
}
