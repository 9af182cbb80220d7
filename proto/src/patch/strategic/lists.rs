//! Merging lists whose field carries `patchStrategy:"merge"`, and ordering the result,
//! as apimachinery's `mergeSlice` and `normalizeElementOrder` do: items of the patch come
//! in the patch's order (or `$setElementOrder`'s), items only on the server keep their
//! place relative to the others. Lookups go through hash maps so a large hostile list
//! costs O(n log n), not O(n²).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::errors::{bad_arg_type, bad_patch_type, list_of_lists, malformed};
use super::merge::{merge_key_of, merge_map, DIRECTIVE};
use super::schema::Schema;
use crate::patch::{go_fmt, PatchError};

pub(super) const MAP_TYPE: &str = "map[string]interface {}";

/// How items of a list are told apart: by their merge key when they are maps, by their
/// whole value when they are scalars.
#[derive(Clone, Copy)]
pub(super) struct Identity<'a> {
    pub(super) maps: bool,
    pub(super) key: &'a str,
}

impl Identity<'_> {
    pub(super) fn of(&self, item: &Value) -> String {
        if self.maps {
            // A map without the key matches any other such map, as in apimachinery.
            match item.as_object().and_then(|m| m.get(self.key)) {
                Some(value) => value.to_string(),
                None => "\u{0}".to_string(),
            }
        } else {
            item.to_string()
        }
    }

    /// Where each identity first appears in `list`.
    fn positions(&self, list: &[Value]) -> HashMap<String, usize> {
        let mut positions = HashMap::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            positions.entry(self.of(item)).or_insert(i);
        }
        positions
    }
}

/// `mergeSlice`: merges `patch` into `original`. `delete_list` is a
/// `$deleteFromPrimitiveList/<field>` list: its scalars are removed from `original`.
pub(super) fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    item_schema: Schema,
    merge_key: Option<&'static str>,
    delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let maps = element_type(&[&original, &patch])? == MAP_TYPE;
    let (server_order, patch_order, merged) = if !maps {
        if delete_list {
            let doomed: HashSet<String> = patch.iter().map(Value::to_string).collect();
            let mut kept = original;
            kept.retain(|item| !doomed.contains(&item.to_string()));
            return Ok(kept);
        }
        let mut seen = HashSet::new();
        let merged: Vec<Value> = original
            .iter()
            .chain(patch.iter())
            .filter(|item| seen.insert(item.to_string()))
            .cloned()
            .collect();
        (original, patch, merged)
    } else {
        let key = merge_key
            .ok_or_else(|| malformed("cannot merge lists without merge key for struct"))?;
        let (original, patch) = special_items(original, patch, key)?;
        let merged = merge_items(original.clone(), patch.clone(), key, item_schema)?;
        (original, patch, merged)
    };
    let (patch_items, server_only) = partition(merged, &patch_order, merge_key)?;
    normalize_order(
        patch_items,
        server_only,
        &patch_order,
        &server_order,
        Identity {
            maps,
            key: merge_key.unwrap_or(""),
        },
    )
}

/// Applies the items carrying `$patch` (`delete` by merge key, `replace` the whole
/// list) and returns the original and the patch without them.
fn special_items(
    original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    let mut deleted = HashSet::new();
    for item in patch {
        let Value::Object(map) = &item else {
            return Err(bad_arg_type(MAP_TYPE, &item));
        };
        let Some(directive) = map.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                deleted.insert(merge_key_of(&item, key)?.to_string());
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(malformed(
                    "merging lists cannot yet be specified in the patch",
                ))
            }
            _ => return Err(bad_patch_type(directive, map)),
        }
    }
    if replace {
        return Ok((plain, Vec::new()));
    }
    let mut original = original;
    if !deleted.is_empty() {
        all_maps(&original)?;
        original.retain(|item| {
            item.get(key)
                .is_none_or(|value| !deleted.contains(&value.to_string()))
        });
    }
    Ok((original, plain))
}

/// Merges each patch item into the original item with the same merge key, or appends it.
fn merge_items(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    item_schema: Schema,
) -> Result<Vec<Value>, PatchError> {
    all_maps(&original)?;
    let identity = Identity { maps: true, key };
    let mut positions = identity.positions(&original);
    for item in patch {
        let value = merge_key_of(&item, key)?.to_string();
        match positions.get(&value) {
            Some(&i) => {
                let (Value::Object(current), Value::Object(patch)) = (original[i].take(), item)
                else {
                    unreachable!("both are maps: checked above");
                };
                original[i] = Value::Object(merge_map(current, patch, item_schema)?);
            }
            None => {
                positions.insert(value, original.len());
                original.push(item);
            }
        }
    }
    Ok(original)
}

/// apimachinery's lookups fail on the first list item that is not a map.
fn all_maps(list: &[Value]) -> Result<(), PatchError> {
    match list.iter().position(|item| !item.is_object()) {
        Some(i) => Err(PatchError::Malformed(format!(
            "value for key {i} is not a map"
        ))),
        None => Ok(()),
    }
}

/// Splits `merged` into the items present in `by` and the others (server-only).
pub(super) fn partition(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let in_by: HashSet<String> = match merge_key {
        None => by.iter().map(Value::to_string).collect(),
        Some(key) => {
            all_maps(by)?;
            let identity = Identity { maps: true, key };
            by.iter().map(|item| identity.of(item)).collect()
        }
    };
    let mut present = Vec::new();
    let mut server_only = Vec::new();
    for item in merged {
        let id = match merge_key {
            None => item.to_string(),
            Some(key) => merge_key_of(&item, key)?.to_string(),
        };
        if in_by.contains(&id) {
            present.push(item);
        } else {
            server_only.push(item);
        }
    }
    Ok((present, server_only))
}

/// `normalizeElementOrder`: patch items sorted by the patch's order, server-only items
/// by the server's, then interleaved so each keeps its place among its neighbours.
pub(super) fn normalize_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    identity: Identity,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = sort_by_order(patch_items, patch_order, identity)?;
    let server_only = sort_by_order(server_only, server_order, identity)?;
    let positions = identity.positions(server_order);
    let position = |item: &Value| positions.get(&identity.of(item)).copied();
    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((position(l), position(r)), (Some(li), Some(ri)) if li < ri)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// `normalizeSliceOrder`: a stable sort by position in `order`; items marked
/// `$patch: delete` go last.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    identity: Identity,
) -> Result<Vec<Value>, PatchError> {
    let (mut items, deleted) = if identity.maps {
        for item in items.iter().chain(order) {
            merge_key_of(item, identity.key)?;
        }
        split_deleted(items)?
    } else {
        (items, Vec::new())
    };
    let positions = identity.positions(order);
    items.sort_by_key(|item| {
        positions
            .get(&identity.of(item))
            .copied()
            .unwrap_or(usize::MAX)
    });
    items.extend(deleted);
    Ok(items)
}

/// `extractToDeleteItems`: (items, items carrying `$patch: delete`).
pub(super) fn split_deleted(items: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut kept = Vec::new();
    let mut deleted = Vec::new();
    for item in items {
        let Value::Object(map) = &item else {
            return Err(bad_arg_type(MAP_TYPE, &item));
        };
        if map.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
            deleted.push(item);
        } else {
            kept.push(item);
        }
    }
    Ok((kept, deleted))
}

/// `sliceElementType`: the one Go type of the items of all `lists`.
pub(super) fn element_type(lists: &[&[Value]]) -> Result<&'static str, PatchError> {
    let mut found: Option<&'static str> = None;
    for item in lists.iter().flat_map(|list| list.iter()) {
        let ty = go_fmt::type_name(item);
        match found {
            None if item.is_array() => return Err(list_of_lists()),
            None => found = Some(ty),
            Some(previous) if previous != ty => {
                let all = Value::Array(lists.iter().map(|l| Value::Array(l.to_vec())).collect());
                return Err(PatchError::Malformed(format!(
                    "list element types are not identical: {}",
                    go_fmt::value(&all)
                )));
            }
            Some(_) => {}
        }
    }
    found.ok_or_else(|| malformed("no elements in any of the given slices"))
}
