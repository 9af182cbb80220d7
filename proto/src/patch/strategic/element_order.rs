//! `$setElementOrder/<list>`: the list merged as its field's strategy says, then
//! ordered as the directive lists it (apimachinery's `mergePatchIntoOriginal`). Items
//! only on the server are placed by their position in the original list *as
//! apimachinery sees it after merging*: it merges in place, so deletions shift the
//! original's items left and new items fill the freed slots (Go slices sharing one
//! array). [`server_view`] replays that, since the order users get depends on it.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::lists::{
    element_type, merge_list, normalize_order, partition, split_deleted, Identity, MAP_TYPE,
};
use super::merge::{merge_key_of, remove_directives, DIRECTIVE};
use super::schema::{Schema, Strategy};
use crate::patch::{go_fmt, PatchError};

/// The merged value of the list named by `$setElementOrder/<list>`, ordered as `order`
/// lists it; `None` when neither side has the list.
pub(super) fn order_by_set_element_order(
    current: Option<Vec<Value>>,
    patched: Option<Vec<Value>>,
    order: &[Value],
    item_schema: Schema,
    strategy: Strategy,
) -> Result<Option<Vec<Value>>, PatchError> {
    let merge_key = strategy.merge_key;
    check_order(patched.as_deref().unwrap_or(&[]), order, merge_key)?;
    let mut server_order = current.clone().unwrap_or_default();
    let patch_items = patched.clone().unwrap_or_default();
    let merged = match (current, patched) {
        (None, None) => return Ok(None),
        (Some(current), None) => current,
        (None, Some(patched)) => match remove_directives(Value::Array(patched)) {
            Some(Value::Array(items)) => items,
            _ => return Ok(None),
        },
        (Some(current), Some(patched)) if strategy.merge => {
            let merged = merge_list(current, patched.clone(), item_schema, merge_key, false)?;
            if let Some(key) = merge_key {
                server_order = server_view(&server_order, &patched, key);
            }
            merged
        }
        (Some(_), Some(patched)) => patched,
    };
    let (in_order, server_only) = partition(merged, order, merge_key)?;
    let maps = element_type(&[&server_order, &patch_items])? == MAP_TYPE;
    normalize_order(
        in_order,
        server_only,
        order,
        &server_order,
        Identity {
            maps,
            key: merge_key.unwrap_or(""),
        },
    )
    .map(Some)
}

/// `validatePatchWithSetOrderList`: the patch's items (but deletions) must appear in
/// `order`, in the same relative order.
fn check_order(
    patch: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items = match merge_key {
        Some(_) => split_deleted(patch.to_vec())?.0,
        None => patch.to_vec(),
    };
    let (mut p, mut o) = (0, 0);
    while p < items.len() && o < order.len() {
        if items[p].get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        let same = match merge_key {
            None => items[p] == order[o],
            Some(key) => merge_key_of(&items[p], key)? == merge_key_of(&order[o], key)?,
        };
        if same {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() {
        return Err(PatchError::Malformed(format!(
            "The order in patch list:\n{}\n doesn't match $setElementOrder list:\n{}\n",
            go_fmt::value(&Value::Array(patch.to_vec())),
            go_fmt::value(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

/// The original list as apimachinery reads it after `mergeSlice` merged `patch` into it
/// in place (the caller has merged successfully, so items are maps with their keys):
/// each deletion shifts the later items left and leaves the slot past the new end
/// holding what was last; each new item is written into the next free slot.
fn server_view(original: &[Value], patch: &[Value], key: &str) -> Vec<Value> {
    let id = |item: &Value| item.get(key).map(Value::to_string);
    let n = original.len();
    let mut view = original.to_vec();
    let mut positions: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, item) in original.iter().enumerate() {
        if let Some(id) = id(item) {
            positions.entry(id).or_default().push(i);
        }
    }
    let mut alive = vec![true; n];
    let mut len = n;
    let mut last = n.checked_sub(1);
    let directive = |item: &Value| {
        item.get(DIRECTIVE)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    for item in patch {
        if directive(item).as_deref() != Some("delete") {
            continue;
        }
        let Some(doomed) = id(item).and_then(|id| positions.remove(&id)) else {
            continue;
        };
        for i in doomed {
            let Some(end) = last else { break };
            // The slot at the old end keeps the item that was last.
            view[len - 1] = original[end].clone();
            alive[i] = false;
            len -= 1;
            last = (0..=end).rev().find(|&j| alive[j]);
        }
    }
    // Live items are the first `len` slots, in order.
    let live: Vec<&Value> = original
        .iter()
        .zip(&alive)
        .filter(|(_, a)| **a)
        .map(|(v, _)| v)
        .collect();
    for (slot, item) in live.iter().enumerate() {
        view[slot] = (*item).clone();
    }
    if patch
        .iter()
        .any(|item| directive(item).as_deref() == Some("replace"))
    {
        return view;
    }
    let mut present: HashSet<String> = live.iter().filter_map(|item| id(item)).collect();
    for item in patch.iter().filter(|item| directive(item).is_none()) {
        let Some(item_id) = id(item) else { continue };
        if present.insert(item_id) {
            if len < n {
                view[len] = item.clone();
            }
            len += 1;
        }
    }
    view
}
