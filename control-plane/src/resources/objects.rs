//! What every method shares: naming objects in requests (kind, namespace, name → store
//! key), turning stored bytes into what the wire carries, and the server-set metadata
//! (uid, creationTimestamp) of new objects.

use std::collections::BTreeMap;

use super::served::Object as WireObject;
use serde_json::Value;

use crate::core::Error;
use crate::store::{Key, Stored};

/// `Pod "web" not found in namespace "default"`: what Get, Delete and Label say.
pub fn not_found(key: &Key) -> Error {
    let mut message = format!("{} {:?} not found", key.kind, key.name);
    if !key.namespace.is_empty() {
        message.push_str(&format!(" in namespace {:?}", key.namespace));
    }
    Error::NotFound(message)
}

/// The resource as kube-apiserver names it in messages: "configmaps",
/// "deployments.apps".
pub fn qualified_resource(kind: &str) -> String {
    crate::core::Kind::resolve(kind)
        .ok()
        .and_then(|k| k.info())
        .map_or_else(
            || kind.to_lowercase(),
            |info| match info.group {
                "" => info.plural.to_string(),
                group => format!("{}.{group}", info.plural),
            },
        )
}

/// Parses a stored object's JSON; the store only holds what this layer wrote, so a
/// failure is corruption.
pub fn parse(stored: &Stored) -> Result<Value, Error> {
    serde_json::from_slice(&stored.json)
        .map_err(|e| Error::Internal(format!("{} is stored as invalid JSON: {e}", stored.key)))
}

/// The JSON bytes of `value` for the store. Server-set `resourceVersion` never goes into
/// it: the store's revision is the truth and is added when serving.
pub fn to_bytes(value: &Value) -> Vec<u8> {
    let mut value = value.clone();
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&value).expect("a JSON value always serializes")
}

/// The wire form of an already parsed stored object, with `metadata.resourceVersion` set
/// to its revision so a client can use it as a precondition or a watch starting point.
pub fn serve_value(stored: &Stored, mut value: Value) -> WireObject {
    let revision = stored.revision.to_string();
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(revision.clone()));
    }
    WireObject {
        kind: stored.key.kind.clone(),
        namespace: stored.key.namespace.clone(),
        name: stored.key.name.clone(),
        uid: stored.uid.clone(),
        resource_version: revision,
        json: serde_json::to_vec(&value).expect("a JSON value always serializes"),
    }
}

/// The wire form of a stored object (see [`serve_value`]).
pub fn serve(stored: &Stored) -> Result<WireObject, Error> {
    Ok(serve_value(stored, parse(stored)?))
}

/// A stored object decoded as the wire has it (with its resourceVersion), for readers of
/// its fields such as the Table printers.
pub fn served_value(stored: &Stored) -> Result<Value, Error> {
    let mut value = parse(stored)?;
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(stored.revision.to_string()),
        );
    }
    Ok(value)
}

/// Appends a stored object's wire JSON to `out` without decoding it (`splice.rs`): what
/// a list of thousands costs is then a copy of their bytes. The bytes are the ones this
/// layer wrote; only JSON the scan cannot place the resourceVersion in is decoded.
pub fn write_served(out: &mut Vec<u8>, stored: &Stored) -> Result<(), Error> {
    if !super::splice::write_with_revision(out, &stored.json, stored.revision) {
        out.extend_from_slice(&serve(stored)?.json);
    }
    Ok(())
}

/// Appends a stored object's `metadata` as served (with its resourceVersion) without
/// decoding it; `false` when the scan cannot place the resourceVersion (decode instead).
pub fn write_served_metadata(out: &mut Vec<u8>, stored: &Stored) -> bool {
    super::splice::write_metadata_with_revision(out, &stored.json, stored.revision)
}

/// `metadata.labels` of an object's JSON (empty when it has none).
pub fn labels_of(value: &Value) -> BTreeMap<String, String> {
    value
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A resourceVersion from a request: empty means "none given".
pub fn parse_revision(text: &str) -> Result<Option<i64>, Error> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(revision) if revision >= 0 => Ok(Some(revision)),
        _ => Err(Error::Invalid(format!(
            "resourceVersion {text:?} is not a resource version (a non-negative integer)"
        ))),
    }
}

/// The `metadata` object of an object's JSON, created when missing.
pub fn metadata_mut(value: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !value.get("metadata").is_some_and(Value::is_object) {
        value["metadata"] = Value::Object(Default::default());
    }
    value["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_objects_carry_their_revision() {
        let stored = Stored {
            key: Key::new("ConfigMap", "default", "c"),
            uid: "u".into(),
            revision: 42,
            json: br#"{"metadata":{"name":"c","resourceVersion":"1"}}"#.to_vec(),
        };
        let wire = serve(&stored).unwrap();
        assert_eq!(wire.resource_version, "42");
        let value: Value = serde_json::from_slice(&wire.json).unwrap();
        assert_eq!(value["metadata"]["resourceVersion"], "42");
        let bytes = to_bytes(&value);
        assert!(!String::from_utf8(bytes)
            .unwrap()
            .contains("resourceVersion"));
    }
}
