//! Manifest files in, typed objects out: multi-document YAML, JSON, and `kind: List`.
//!
//! Every document is first read as a plain JSON value (YAML is converted), so JSON and
//! YAML take the same strict path (`strict.rs`) and errors name the same paths.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use super::object::{supported_kinds_list, Object, SUPPORTED_KINDS};
use strict::Failure;

pub(crate) mod strict;

/// A manifest that could not be decoded, located like kubectl locates it.
///
/// Display: `<source>: document <n>: <path>: <message>` (the path part is left out when
/// the problem is with the document as a whole).
// `Display`/`Error` are written by hand: thiserror would treat the `source` field (the
// file name) as the underlying error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Where the text came from, e.g. a file name or "stdin".
    pub source: String,
    /// 1-based index of the YAML document (or JSON value) in the text.
    pub document: usize,
    /// Field path inside the document, e.g. `spec.containers[0].imagePullPolcy`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}: ", self.source, self.document)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes every object in `text`: YAML documents separated by `---` (empty ones are
/// skipped) or JSON values; a `kind: List` contributes its `items`.
///
/// `source` only labels errors (a file name, "stdin", ...).
pub fn decode_documents(source: &str, text: &str) -> Result<Vec<Object>, DecodeError> {
    let mut objects = Vec::new();
    for (index, document) in split_documents(source, text)?.into_iter().enumerate() {
        if let Some(value) = document {
            objects.extend(decode_value(source, index + 1, value)?);
        }
    }
    Ok(objects)
}

/// Reads `text` as JSON values when it starts like JSON (a stream of them is fine), else
/// as YAML documents.
/// Empty documents come back as `None` so that document numbers stay right.
fn split_documents(source: &str, text: &str) -> Result<Vec<Option<Value>>, DecodeError> {
    let error = |document: usize, message: String| DecodeError {
        source: source.to_string(),
        document,
        path: String::new(),
        message,
    };
    // JSON objects open with `{"`; a YAML flow mapping (`{kind: Pod}`) does not.
    let looks_like_json = text
        .trim_start()
        .strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with(['"', '}']));
    if looks_like_json {
        let mut values = Vec::new();
        for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            let value = value.map_err(|e| error(values.len() + 1, e.to_string()))?;
            values.push(Some(value));
        }
        return Ok(values);
    }
    split_yaml(source, text)
}

fn split_yaml(source: &str, text: &str) -> Result<Vec<Option<Value>>, DecodeError> {
    let error = |document: usize, message: String| DecodeError {
        source: source.to_string(),
        document,
        path: String::new(),
        message,
    };
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let number = documents.len() + 1;
        let mut yaml =
            serde_yaml::Value::deserialize(document).map_err(|e| error(number, e.to_string()))?;
        yaml.apply_merge()
            .map_err(|e| error(number, e.to_string()))?;
        let value = match yaml {
            serde_yaml::Value::Null => None,
            yaml => Some(yaml_to_json(yaml).map_err(|message| error(number, message))?),
        };
        documents.push(value);
    }
    Ok(documents)
}

/// Converts a YAML value to JSON the way kubectl does: scalar keys become strings, tags
/// are dropped, and file modes written as YAML 1.1 octal (`defaultMode: 0400`, as the
/// Kubernetes docs write them) are numbers, which serde_yaml's YAML 1.2 reads as strings.
fn yaml_to_json(yaml: serde_yaml::Value) -> Result<Value, String> {
    use serde_yaml::Value as Yaml;
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let float = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(float)
                    .map(Value::Number)
                    .ok_or_else(|| format!("unsupported number {n}"))?
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut map = serde_json::Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => return Err(format!("mapping keys must be strings, not {other:?}")),
                };
                let value = match value {
                    Yaml::String(s) if is_mode_field(&key) => {
                        octal(&s).map(Value::from).unwrap_or(Value::String(s))
                    }
                    value => yaml_to_json(value)?,
                };
                map.insert(key, value);
            }
            Value::Object(map)
        }
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// The volume file-mode fields (configMap, secret, downwardAPI and projected volumes).
fn is_mode_field(key: &str) -> bool {
    key == "defaultMode" || key == "mode"
}

/// `0400` → 256; anything that is not a leading-zero octal literal → None.
fn octal(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('0').filter(|d| !d.is_empty())?;
    let digits = digits.strip_prefix('o').unwrap_or(digits);
    i64::from_str_radix(digits, 8).ok()
}

/// Decodes one document: a single object, or a `List` whose items are each decoded.
pub(crate) fn decode_value(
    source: &str,
    document: usize,
    value: Value,
) -> Result<Vec<Object>, DecodeError> {
    let located = |failure: Failure| DecodeError {
        source: source.to_string(),
        document,
        path: failure.path,
        message: failure.message,
    };
    if value.get("kind").and_then(Value::as_str) != Some("List") {
        return decode_object(&value)
            .map(|object| vec![object])
            .map_err(located);
    }
    let Some(items) = value.get("items").and_then(Value::as_array) else {
        return Err(located(fail("items", "a List needs an items array")));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            decode_object(item).map_err(|failure| {
                let path = match failure.path.as_str() {
                    "" => format!("items[{index}]"),
                    inner => format!("items[{index}].{inner}"),
                };
                located(Failure { path, ..failure })
            })
        })
        .collect()
}

/// The most unknown fields [`prune_unknown_fields`] drops before it gives up.
const MAX_UNKNOWN_FIELDS: usize = 256;

/// For the REST API's `fieldValidation=Warn|Ignore`: one object with its unknown fields
/// removed, and their paths (`spec.foo`, `spec.containers[0].bar`) in the order found.
/// Any other decoding problem is an error, as with strict decoding.
pub fn prune_unknown_fields(value: &Value) -> Result<(Value, Vec<String>), DecodeError> {
    let mut value = value.clone();
    let mut unknown = Vec::new();
    loop {
        let failure = match decode_object(&value) {
            Ok(_) => return Ok((value, unknown)),
            Err(failure) => failure,
        };
        let removable = failure.message.starts_with("unknown field")
            && unknown.len() < MAX_UNKNOWN_FIELDS
            && remove_path(&mut value, &failure.path);
        if !removable {
            return Err(DecodeError {
                source: "body".into(),
                document: 1,
                path: failure.path,
                message: failure.message,
            });
        }
        unknown.push(failure.path);
    }
}

/// Removes the field at a decode path (`a.b[2].c`); false when it is not there.
fn remove_path(value: &mut Value, path: &str) -> bool {
    let mut steps: Vec<Result<usize, &str>> = Vec::new();
    for part in path.split('.') {
        let (key, indexes) = part
            .split_once('[')
            .map_or((part, ""), |(k, rest)| (k, rest));
        if !key.is_empty() {
            steps.push(Err(key));
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            match index.trim_end_matches(']').parse() {
                Ok(i) => steps.push(Ok(i)),
                Err(_) => return false,
            }
        }
    }
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut at = value;
    for step in parents {
        let next = match step {
            Ok(i) => at.get_mut(*i),
            Err(key) => at.get_mut(*key),
        };
        match next {
            Some(next) => at = next,
            None => return false,
        }
    }
    match (last, at) {
        (Err(key), Value::Object(map)) => map.remove(*key).is_some(),
        _ => false,
    }
}

/// Picks the type from `apiVersion`/`kind` and decodes strictly into it.
fn decode_object(value: &Value) -> Result<Object, Failure> {
    if !value.is_object() {
        return Err(fail("", "expected an object with apiVersion and kind"));
    }
    let api_version = match value.get("apiVersion") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        _ => return Err(fail("apiVersion", "apiVersion not set")),
    };
    let kind = match value.get("kind") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        _ => return Err(fail("kind", "kind not set")),
    };
    if let Some(result) = Object::decode_kind(api_version, kind, value) {
        return result;
    }
    let known_versions: Vec<&str> = SUPPORTED_KINDS
        .iter()
        .filter(|(_, supported)| *supported == kind)
        .map(|(version, _)| *version)
        .collect();
    if known_versions.is_empty() {
        return Err(fail(
            "kind",
            &format!(
                "unsupported kind {kind:?} (supported: {})",
                supported_kinds_list()
            ),
        ));
    }
    Err(fail(
        "apiVersion",
        &format!(
            "no matches for kind {kind:?} in version {api_version:?} (use {:?})",
            known_versions.join(", ")
        ),
    ))
}

fn fail(path: &str, message: &str) -> Failure {
    Failure {
        path: path.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests;
