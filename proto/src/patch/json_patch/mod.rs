//! JSON patch (RFC 6902, `application/json-patch+json`) as kube-apiserver applies it
//! through evanphx/json-patch v4: its leniencies (a `replace` of a missing object key
//! adds it, negative array indices count from the end, a missing `value` is null) and
//! its messages. Decoding errors are 400, more than 10,000 operations 413, and an
//! operation that does not apply 422.

mod pointer;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use super::{
    check_depth, go_fmt, parse_body, PatchError, MAX_COPY_BYTES, MAX_JSON_PATCH_OPERATIONS,
};
use pointer::find_parent;

/// Applies the JSON patch `patch` (the raw request body) to `doc`.
pub fn apply(doc: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let operations = decode(patch)?;
    check_depth(doc)?;
    let mut doc = doc.clone();
    let mut copied = 0usize;
    for op in &operations {
        apply_one(&mut doc, op, &mut copied).map_err(PatchError::Unprocessable)?;
    }
    check_depth(&doc)?;
    Ok(doc)
}

/// The operations of the body: a JSON array of objects (a null item is an operation
/// with no fields, as Go decodes it).
fn decode(patch: &[u8]) -> Result<Vec<Map<String, Value>>, PatchError> {
    let body = parse_body(patch).map_err(|e| PatchError::Malformed(e.to_string()))?;
    let Value::Array(items) = body else {
        return Err(PatchError::Malformed(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            go_fmt::json_kind(&body)
        )));
    };
    if items.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooLarge(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            items.len()
        )));
    }
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(op) => Ok(op),
            Value::Null => Ok(Map::new()),
            other => Err(PatchError::Malformed(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                go_fmt::json_kind(&other)
            ))),
        })
        .collect()
}

const MISSING: &str = "missing value";

/// A string field of the operation (`path`, `from`), or the library's reason why not.
fn string_field(op: &Map<String, Value>, field: &str) -> Result<String, String> {
    match op.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) if field == "path" => {
            Err(format!("operation missing path field: {MISSING}"))
        }
        None | Some(Value::Null) => Err(format!("operation, missing {field} field: {MISSING}")),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go value of type string",
            go_fmt::json_kind(other)
        )),
    }
}

/// The operation's value; a missing one is null, as the library treats it.
fn value(op: &Map<String, Value>) -> Value {
    op.get("value").cloned().unwrap_or(Value::Null)
}

fn apply_one(doc: &mut Value, op: &Map<String, Value>, copied: &mut usize) -> Result<(), String> {
    let kind = match op.get("op") {
        Some(Value::String(kind)) => kind.as_str(),
        _ => "unknown",
    };
    match kind {
        "add" => add(doc, op),
        "remove" => remove(doc, op),
        "replace" => replace(doc, op),
        "move" => move_(doc, op),
        "test" => test(doc, op),
        "copy" => copy(doc, op, copied),
        other => Err(format!("Unexpected kind: {other}")),
    }
}

fn add(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let path = string_field(op, "path")
        .map_err(|_| format!("add operation failed to decode path: {MISSING}"))?;
    let (mut parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("add operation does not apply: doc is missing path: \"{path}\": {MISSING}")
    })?;
    parent
        .add(&key, value(op))
        .map_err(|e| format!("error in add for path: '{path}': {e}"))
}

fn remove(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let path = string_field(op, "path")
        .map_err(|_| format!("remove operation failed to decode path: {MISSING}"))?;
    let (mut parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("remove operation does not apply: doc is missing path: \"{path}\": {MISSING}")
    })?;
    parent
        .remove(&key)
        .map(drop)
        .map_err(|e| format!("error in remove for path: '{path}': {e}"))
}

fn replace(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let path = string_field(op, "path")
        .map_err(|e| format!("replace operation failed to decode path: {e}"))?;
    if path.is_empty() {
        // The whole document; the library quietly ignores a value that is not a
        // container.
        let value = value(op);
        if value.is_object() || value.is_array() {
            *doc = value;
        }
        return Ok(());
    }
    let (mut parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("replace operation does not apply: doc is missing path: {path}: {MISSING}")
    })?;
    if parent.get(&key).is_err() {
        return Err(format!(
            "replace operation does not apply: doc is missing key: {path}: {MISSING}"
        ));
    }
    parent
        .set(&key, value(op))
        .map_err(|e| format!("error in remove for path: '{path}': {e}"))
}

fn move_(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let from = string_field(op, "from")
        .map_err(|e| format!("move operation failed to decode from: {e}"))?;
    let (mut parent, key) = find_parent(doc, &from).ok_or_else(|| {
        format!("move operation does not apply: doc is missing from path: {from}: {MISSING}")
    })?;
    parent
        .get(&key)
        .map_err(|e| format!("error in move for path: '{key}': {e}"))?;
    let moved = parent
        .remove(&key)
        .map_err(|e| format!("error in move for path: '{key}': {e}"))?;
    let path = string_field(op, "path")
        .map_err(|e| format!("move operation failed to decode path: {e}"))?;
    let (mut parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("move operation does not apply: doc is missing destination path: {path}: {MISSING}")
    })?;
    parent
        .add(&key, moved)
        .map_err(|e| format!("error in move for path: '{path}': {e}"))
}

fn test(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let path = string_field(op, "path")
        .map_err(|e| format!("test operation failed to decode path: {e}"))?;
    let failed = || format!("testing value {path} failed: test failed");
    let expected = op.get("value");
    if path.is_empty() {
        return if expected == Some(doc) {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let (parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("test operation does not apply: is missing path: {path}: {MISSING}")
    })?;
    let actual = parent
        .get(&key)
        .map_err(|e| format!("error in test for path: '{path}': {e}"))?;
    // The library holds a missing key and a null alike, so `null` matches both.
    let matches = match (actual, expected) {
        (None | Some(Value::Null), Some(Value::Null)) => true,
        (Some(actual), Some(expected)) => actual == expected,
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(failed())
    }
}

fn copy(doc: &mut Value, op: &Map<String, Value>, copied: &mut usize) -> Result<(), String> {
    let from = string_field(op, "from")
        .map_err(|e| format!("copy operation failed to decode from: {e}"))?;
    let (parent, key) = find_parent(doc, &from).ok_or_else(|| {
        format!("copy operation does not apply: doc is missing from path: {from}: {MISSING}")
    })?;
    let value = parent
        .get(&key)
        .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
        .cloned();
    let path = string_field(op, "path")
        .map_err(|_| format!("copy operation failed to decode path: {MISSING}"))?;
    let (mut parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("copy operation does not apply: doc is missing destination path: {path}: {MISSING}")
    })?;
    // A missing source copies as null, as in the library.
    let size = value
        .as_ref()
        .map_or(0, |v| serde_json::to_vec(v).map_or(0, |b| b.len()));
    *copied += size;
    if *copied > MAX_COPY_BYTES {
        return Err(format!(
            "Unable to complete the copy, the accumulated size increase of copy is {}, exceeding the limit {MAX_COPY_BYTES}",
            *copied
        ));
    }
    parent
        .add(&key, value.unwrap_or(Value::Null))
        .map_err(|e| format!("error while adding value during copy: {e}"))
}
