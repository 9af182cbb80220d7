//! ConfigMap and Secret rules as the API server has them: keys that can be file names,
//! the 1 MiB size limit, each Secret type's required keys, and on update `immutable`
//! and a Secret's `type` kept as they are.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::Value;

use super::{validate_config_key, FieldError};

/// The most data a ConfigMap or a Secret may hold (keys and values), as etcd's object
/// limit made it in Kubernetes.
pub const MAX_CONFIG_SIZE: usize = 1024 * 1024;

/// What the API server shows instead of a secret's bytes in an error.
const REDACTED: &str = "<secret contents redacted>";

pub(super) fn validate_config_map(cm: &ConfigMap) -> Vec<FieldError> {
    let keys = keys_of(&cm.data, "data").chain(keys_of(&cm.binary_data, "binaryData"));
    let mut errors = validate_keys(keys);
    let mut seen = std::collections::HashSet::new();
    for key in cm.binary_data.iter().flat_map(BTreeMap::keys) {
        seen.insert(key.as_str());
    }
    for key in cm.data.iter().flat_map(BTreeMap::keys) {
        if seen.contains(key.as_str()) {
            errors.push(FieldError::invalid(
                &format!("data[{key}]"),
                key.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
    }
    let size = sized(&cm.data, String::len) + sized(&cm.binary_data, |b| b.0.len());
    if size > MAX_CONFIG_SIZE {
        errors.push(FieldError::too_long("data", MAX_CONFIG_SIZE));
    }
    errors
}

pub(super) fn validate_secret(secret: &Secret) -> Vec<FieldError> {
    // stringData is merged into data by defaulting; both are checked for a caller that
    // validates before it.
    let keys = keys_of(&secret.data, "data").chain(keys_of(&secret.string_data, "stringData"));
    let mut errors = validate_keys(keys);
    let size = sized(&secret.data, |b| b.0.len()) + sized(&secret.string_data, String::len);
    if size > MAX_CONFIG_SIZE {
        errors.push(FieldError::too_long("data", MAX_CONFIG_SIZE));
    }
    let has = |key: &str| {
        secret.data.as_ref().is_some_and(|d| d.contains_key(key))
            || secret
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(key))
    };
    let bytes = |key: &str| -> Option<Vec<u8>> {
        let from_data = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.clone());
        let from_strings = secret.string_data.as_ref().and_then(|d| d.get(key));
        from_strings.map(|s| s.clone().into_bytes()).or(from_data)
    };
    let required = |key: &str| FieldError::required(&format!("data[{key}]"), "");
    match secret.type_.as_deref().unwrap_or_default() {
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errors.push(required(key));
                }
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errors.push(required("username"));
            errors.push(required("password"));
        }
        "kubernetes.io/ssh-auth" if bytes("ssh-privatekey").is_none_or(|b| b.is_empty()) => {
            errors.push(required("ssh-privatekey"));
        }
        kind @ ("kubernetes.io/dockerconfigjson" | "kubernetes.io/dockercfg") => {
            let key = if kind.ends_with("json") {
                ".dockerconfigjson"
            } else {
                ".dockercfg"
            };
            match bytes(key) {
                None => errors.push(required(key)),
                Some(bytes) => {
                    if let Err(e) = serde_json::from_slice::<Value>(&bytes) {
                        errors.push(FieldError::invalid(&format!("data[{key}]"), REDACTED, e));
                    }
                }
            }
        }
        "kubernetes.io/service-account-token" => {
            let annotations = secret.metadata.annotations.as_ref();
            let named = annotations
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .is_some_and(|n| !n.is_empty());
            if !named {
                errors.push(FieldError::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        _ => {}
    }
    errors
}

/// The update rules of a ConfigMap or a Secret (stored `old`, defaulted `new`, as JSON):
/// once `immutable: true`, it stays so and its data does not change; a Secret's type
/// never changes.
pub fn validate_config_update(kind: &str, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !matches!(kind, "ConfigMap" | "Secret") {
        return errors;
    }
    if kind == "Secret" && old.get("type").is_some() && old.get("type") != new.get("type") {
        let value = new.get("type").cloned().unwrap_or(Value::Null);
        errors.push(FieldError::invalid("type", value, "field is immutable"));
    }
    if old.get("immutable") != Some(&Value::Bool(true)) {
        return errors;
    }
    let immutable = "field is immutable when `immutable` is set";
    if new.get("immutable") != Some(&Value::Bool(true)) {
        errors.push(FieldError::forbidden("immutable", immutable));
    }
    for field in ["data", "binaryData"] {
        if old.get(field) != new.get(field) {
            errors.push(FieldError::forbidden(field, immutable));
        }
    }
    errors
}

fn sized<V>(map: &Option<BTreeMap<String, V>>, len: impl Fn(&V) -> usize) -> usize {
    map.iter()
        .flatten()
        .map(|(key, value)| key.len() + len(value))
        .sum()
}

fn keys_of<'a, V>(
    map: &'a Option<BTreeMap<String, V>>,
    field: &'static str,
) -> impl Iterator<Item = (&'static str, &'a str)> {
    map.iter()
        .flat_map(|map| map.keys())
        .map(move |key| (field, key.as_str()))
}

/// ConfigMap/Secret keys become file names in volumes, so they are restricted.
fn validate_keys<'a>(keys: impl Iterator<Item = (&'static str, &'a str)>) -> Vec<FieldError> {
    keys.flat_map(|(field, key)| validate_config_key(&format!("{field}[{key}]"), key))
        .collect()
}

#[cfg(test)]
mod tests;
