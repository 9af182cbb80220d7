//! JSON pointers (RFC 6901) resolved the way evanphx/json-patch v4 resolves them: walk
//! to the parent container, then act on the last reference token. The messages are the
//! library's, which kube-apiserver passes on.

use serde_json::{Map, Value};

/// The object or array a pointer's last token lives in.
pub(super) enum Container<'a> {
    Object(&'a mut Map<String, Value>),
    Array(&'a mut Vec<Value>),
}

/// `~1` is `/` and `~0` is `~`, decoded in that order (RFC 6901 §4).
fn decode_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// The parent container of `path` and the decoded last token, or `None` when a step on
/// the way is missing, null or not a container (the library's "doc is missing path").
pub(super) fn find_parent<'a>(doc: &'a mut Value, path: &str) -> Option<(Container<'a>, String)> {
    let tokens: Vec<&str> = path.split('/').collect();
    if tokens.len() < 2 {
        return None;
    }
    let mut current = doc;
    for token in &tokens[1..tokens.len() - 1] {
        let token = decode_token(token);
        let next = match current {
            Value::Object(map) => map.get_mut(&token)?,
            Value::Array(items) => {
                let index = existing_index(items.len(), &token).ok()?;
                &mut items[index]
            }
            _ => return None,
        };
        if next.is_null() {
            return None;
        }
        current = next;
    }
    let key = decode_token(tokens[tokens.len() - 1]);
    match current {
        Value::Object(map) => Some((Container::Object(map), key)),
        Value::Array(items) => Some((Container::Array(items), key)),
        _ => None,
    }
}

/// Go's `strconv.Atoi`, with its messages.
fn atoi(token: &str) -> Result<i64, String> {
    use std::num::IntErrorKind;
    token.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
            format!("strconv.Atoi: parsing {token:?}: value out of range")
        }
        _ => format!("strconv.Atoi: parsing {token:?}: invalid syntax"),
    })
}

fn invalid_index(index: i64) -> String {
    format!("Unable to access invalid index: {index}: invalid index referenced")
}

/// A negative index counts back from `len`, as the library allows.
fn from_end(index: i64, len: i64) -> Result<i64, String> {
    match index {
        i if i >= 0 => Ok(i),
        i if i < -len => Err(invalid_index(i)),
        i => Ok(i + len),
    }
}

/// The position of an existing element; negative indices count from the end, as the
/// library allows.
fn existing_index(len: usize, token: &str) -> Result<usize, String> {
    let len = len as i64;
    let resolved = from_end(atoi(token)?, len)?;
    if resolved >= len {
        return Err(invalid_index(resolved));
    }
    Ok(resolved as usize)
}

impl Container<'_> {
    /// The value under `key`: `Ok(None)` for a missing object key (the library does not
    /// tell a missing key from a null one), an error for a bad array index.
    pub(super) fn get(&self, key: &str) -> Result<Option<&Value>, String> {
        match self {
            Container::Object(map) => Ok(map.get(key)),
            Container::Array(items) => {
                let index = existing_index(items.len(), key)?;
                Ok(Some(&items[index]))
            }
        }
    }

    /// Inserts before `key` in an array (`-` appends), sets it in an object.
    pub(super) fn add(&mut self, key: &str, value: Value) -> Result<(), String> {
        match self {
            Container::Object(map) => {
                map.insert(key.to_string(), value);
                Ok(())
            }
            Container::Array(items) => {
                if key == "-" {
                    items.push(value);
                    return Ok(());
                }
                let index = atoi(key)
                    .map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
                let new_len = items.len() as i64 + 1;
                if index >= new_len {
                    return Err(invalid_index(index));
                }
                items.insert(from_end(index, new_len)? as usize, value);
                Ok(())
            }
        }
    }

    /// Overwrites an existing array element, or sets an object key.
    pub(super) fn set(&mut self, key: &str, value: Value) -> Result<(), String> {
        match self {
            Container::Object(map) => {
                map.insert(key.to_string(), value);
                Ok(())
            }
            Container::Array(items) => {
                let index = existing_index(items.len(), key)?;
                items[index] = value;
                Ok(())
            }
        }
    }

    pub(super) fn remove(&mut self, key: &str) -> Result<Value, String> {
        match self {
            Container::Object(map) => map
                .remove(key)
                .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: missing value")),
            Container::Array(items) => {
                let index = existing_index(items.len(), key)?;
                Ok(items.remove(index))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaped_tokens_are_decoded_slash_first() {
        assert_eq!(decode_token("a~1b~0c"), "a/b~c");
        assert_eq!(decode_token("~01"), "~1");
    }

    #[test]
    fn walks_objects_and_arrays_but_not_nulls_or_scalars() {
        let mut doc = json!({"a": [{"b": 1}], "n": null, "s": "x"});
        assert!(find_parent(&mut doc, "/a/0/b").is_some());
        assert!(find_parent(&mut doc, "/a/-1/b").is_some());
        assert!(find_parent(&mut doc, "/a/1/b").is_none());
        assert!(find_parent(&mut doc, "/n/x").is_none());
        assert!(find_parent(&mut doc, "/s/x").is_none());
        assert!(find_parent(&mut doc, "").is_none());
    }

    #[test]
    fn array_indices_read_like_strconv() {
        assert_eq!(existing_index(3, "-1"), Ok(2));
        assert_eq!(
            existing_index(3, "x"),
            Err("strconv.Atoi: parsing \"x\": invalid syntax".into())
        );
        assert_eq!(
            existing_index(3, "3"),
            Err("Unable to access invalid index: 3: invalid index referenced".into())
        );
        assert_eq!(
            existing_index(3, "99999999999999999999"),
            Err("strconv.Atoi: parsing \"99999999999999999999\": value out of range".into())
        );
    }
}
