//! What every method shares: naming objects in requests (kind, namespace, name → store
//! key), turning stored bytes into what the wire carries, and the server-set metadata
//! (uid, creationTimestamp) of new objects.

use std::collections::BTreeMap;

use rand::RngCore;
use serde_json::Value;
use skiff_proto::model::SUPPORTED_KINDS;
use skiff_proto::v1::Object as WireObject;

use super::ApiError;
use crate::store::{Key, Stored};

/// The namespace of requests that name none, as in kubectl.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Namespaces made at first start, which may not be deleted (as in Kubernetes).
/// `kube-node-lease` holds the nodes' heartbeat Leases (`nodes/heartbeat.rs`).
pub const SYSTEM_NAMESPACES: &[&str] = &[DEFAULT_NAMESPACE, "kube-system", "kube-node-lease"];

/// Kinds the control plane writes itself (the scheduler's Events, the nodes' Leases):
/// not applied from manifests, but listed, watched and deleted like the rest.
pub const SERVER_KINDS: &[&str] = &["Event", "Lease"];

/// A supported kind, as a request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// Canonical spelling, as in manifests and store keys ("Pod", "ConfigMap").
    pub name: &'static str,
    pub namespaced: bool,
}

impl Kind {
    /// Resolves a kind name case-insensitively ("pod" and "Pod" are the same kind); the
    /// CLI resolves plurals and short names, the server only forgives case.
    pub fn resolve(requested: &str) -> Result<Kind, ApiError> {
        SUPPORTED_KINDS
            .iter()
            .map(|(_, kind)| *kind)
            .chain(SERVER_KINDS.iter().copied())
            .find(|kind| kind.eq_ignore_ascii_case(requested))
            .map(Kind::of)
            .ok_or_else(|| {
                let what = if requested.is_empty() {
                    "a kind is required".to_string()
                } else {
                    format!("unsupported kind {requested:?}")
                };
                ApiError::Invalid(format!("{what} (supported: {})", kind_names()))
            })
    }

    /// The kind of a canonical name (from a decoded object or a store key).
    pub fn of(name: &'static str) -> Kind {
        Kind {
            name,
            namespaced: !matches!(name, "Namespace" | "Node"),
        }
    }

    /// Every supported kind that lives in namespaces.
    pub fn namespaced_kinds() -> impl Iterator<Item = Kind> {
        SUPPORTED_KINDS
            .iter()
            .map(|(_, kind)| *kind)
            .chain(SERVER_KINDS.iter().copied())
            .map(Kind::of)
            .filter(|kind| kind.namespaced)
    }

    /// The request's namespace for this kind: "" for cluster-scoped kinds whatever was
    /// asked, "default" for namespaced ones when none was.
    pub fn namespace_of<'a>(&self, requested: &'a str) -> &'a str {
        match (self.namespaced, requested) {
            (false, _) => "",
            (true, "") => DEFAULT_NAMESPACE,
            (true, namespace) => namespace,
        }
    }

    /// The store key of the object `name` in `namespace` (as the request gave it).
    pub fn key(&self, namespace: &str, name: &str) -> Key {
        Key::new(self.name, self.namespace_of(namespace), name)
    }
}

/// "Pod, ReplicaSet, ...": for error messages.
fn kind_names() -> String {
    let names: Vec<&str> = SUPPORTED_KINDS.iter().map(|(_, kind)| *kind).collect();
    names.join(", ")
}

/// `Pod "web" not found in namespace "default"`: what Get, Delete and Label say.
pub fn not_found(key: &Key) -> ApiError {
    let mut message = format!("{} {:?} not found", key.kind, key.name);
    if !key.namespace.is_empty() {
        message.push_str(&format!(" in namespace {:?}", key.namespace));
    }
    ApiError::NotFound(message)
}

/// Parses a stored object's JSON; the store only holds what this layer wrote, so a
/// failure is corruption.
pub fn parse(stored: &Stored) -> Result<Value, ApiError> {
    serde_json::from_slice(&stored.json)
        .map_err(|e| ApiError::Internal(format!("{} is stored as invalid JSON: {e}", stored.key)))
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
pub fn serve(stored: &Stored) -> Result<WireObject, ApiError> {
    Ok(serve_value(stored, parse(stored)?))
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
pub fn parse_revision(text: &str) -> Result<Option<i64>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(revision) if revision >= 0 => Ok(Some(revision)),
        _ => Err(ApiError::Invalid(format!(
            "resourceVersion {text:?} is not a resource version (a non-negative integer)"
        ))),
    }
}

/// A random (version 4) UUID, the uid of a new object: unique across deletions and
/// re-creations of the same name, which is how agents and controllers tell them apart.
pub fn new_uid() -> String {
    let mut bytes = [0_u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    skiff_proto::model::uuid(bytes, 4)
}

/// Now, as Kubernetes writes timestamps in metadata: RFC 3339 in UTC, whole seconds.
pub fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
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
    fn kinds_resolve_case_insensitively_and_list_the_supported_ones() {
        assert_eq!(Kind::resolve("pod").unwrap().name, "Pod");
        assert!(!Kind::resolve("Node").unwrap().namespaced);
        let err = Kind::resolve("Ingress").unwrap_err().to_string();
        assert!(
            err.contains("\"Ingress\"") && err.contains("ConfigMap"),
            "{err}"
        );
        assert_eq!(
            Kind::of("Pod").key("", "web"),
            Key::new("Pod", "default", "web")
        );
        assert_eq!(Kind::of("Node").key("x", "n1"), Key::new("Node", "", "n1"));
    }

    #[test]
    fn uids_are_version_4_uuids() {
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert!(matches!(&uid[19..20], "8" | "9" | "a" | "b"), "{uid}");
        assert_ne!(uid, new_uid());
    }

    #[test]
    fn timestamps_have_whole_seconds() {
        let now = now();
        assert!(now.ends_with('Z') && !now.contains('.'), "{now}");
    }

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
