//! Pod volumes: names, one source each, and only the sources skiff's agent can provide.
//! Anything else (nfs, csi, iscsi, cloud disks, ...) is refused at apply with its field
//! path and the supported list, so no volume is accepted and then silently left out.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, Volume};
use serde_json::Value;

use super::env::{validate_field_ref, validate_resource_ref, VOLUME_FIELD_PATHS};
use super::{validate_dns1123_label, FieldError};

/// The volume sources the agent mounts (agent/src/volumes/).
pub const SUPPORTED_VOLUME_TYPES: &[&str] = &[
    "configMap",
    "downwardAPI",
    "emptyDir",
    "hostPath",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The projected sources the agent writes.
pub const SUPPORTED_PROJECTED_SOURCES: &[&str] = &["configMap", "downwardAPI", "secret"];

/// `hostPath.type` values, "" meaning no check (Kubernetes' HostPathType).
pub const HOST_PATH_TYPES: &[&str] = &[
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];

/// Checks volume names (required, DNS-1123 labels, unique), that each has at most one
/// source and a supported one; returns the names so mounts can be checked against them.
pub(super) fn validate_volumes<'a>(
    path: &str,
    volumes: &'a [Volume],
    errors: &mut Vec<FieldError>,
) -> HashSet<&'a str> {
    let mut names = HashSet::new();
    for (index, volume) in volumes.iter().enumerate() {
        let at = format!("{path}[{index}]");
        if volume.name.is_empty() {
            errors.push(FieldError::required(&format!("{at}.name"), ""));
        } else {
            errors.extend(validate_dns1123_label(&format!("{at}.name"), &volume.name));
            if !names.insert(volume.name.as_str()) {
                errors.push(FieldError::duplicate(
                    &format!("{at}.name"),
                    volume.name.as_str(),
                ));
            }
        }
        // The source is whichever other field is set; none means emptyDir (defaulting).
        let fields = match serde_json::to_value(volume) {
            Ok(Value::Object(fields)) => fields,
            _ => Default::default(),
        };
        let sources: Vec<(&String, &Value)> = fields.iter().filter(|(k, _)| *k != "name").collect();
        if sources.len() > 1 {
            errors.push(FieldError::forbidden(
                &at,
                "may not specify more than 1 volume type",
            ));
        }
        for (source, value) in sources {
            errors.extend(validate_source(&at, source, value));
        }
    }
    names
}

fn validate_source(at: &str, source: &str, value: &Value) -> Vec<FieldError> {
    let here = format!("{at}.{source}");
    match source {
        "configMap" => required_name(&here, value, "name"),
        "secret" => required_name(&here, value, "secretName"),
        "persistentVolumeClaim" => required_name(&here, value, "claimName"),
        "hostPath" => validate_host_path(&here, value),
        "projected" => validate_projected(&here, value),
        "downwardAPI" => validate_downward_items(&here, value),
        "emptyDir" => Vec::new(),
        other => vec![unsupported_type(&here, other, SUPPORTED_VOLUME_TYPES)],
    }
}

/// `spec.volumes[0].nfs: Forbidden: volume type "nfs" is not supported by skiff
/// (supported: configMap, ...)`.
pub(super) fn unsupported_type(path: &str, kind: &str, supported: &[&str]) -> FieldError {
    FieldError::forbidden(
        path,
        &format!(
            "volume type {kind:?} is not supported by skiff (supported: {})",
            supported.join(", ")
        ),
    )
}

fn required_name(path: &str, source: &Value, field: &str) -> Vec<FieldError> {
    match source[field].as_str() {
        Some(name) if !name.is_empty() => Vec::new(),
        _ => vec![FieldError::required(&format!("{path}.{field}"), "")],
    }
}

fn validate_host_path(path: &str, source: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let host_path = source["path"].as_str().unwrap_or_default();
    if host_path.is_empty() {
        errors.push(FieldError::required(&format!("{path}.path"), ""));
    } else if host_path.split('/').any(|part| part == "..") {
        errors.push(FieldError::invalid(
            &format!("{path}.path"),
            host_path,
            "must not contain '..'",
        ));
    }
    if let Some(kind) = source["type"].as_str() {
        if !HOST_PATH_TYPES.contains(&kind) {
            errors.push(FieldError::unsupported(
                &format!("{path}.type"),
                kind,
                &HOST_PATH_TYPES[1..],
            ));
        }
    }
    errors
}

fn validate_projected(path: &str, source: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let sources = source["sources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (index, projection) in sources.iter().enumerate() {
        let at = format!("{path}.sources[{index}]");
        let Some(fields) = projection.as_object() else {
            continue;
        };
        if fields.len() > 1 {
            errors.push(FieldError::forbidden(
                &at,
                "may not specify more than 1 volume type per source",
            ));
        }
        for (kind, value) in fields {
            let here = format!("{at}.{kind}");
            match kind.as_str() {
                "configMap" | "secret" => errors.extend(required_name(&here, value, "name")),
                "downwardAPI" => errors.extend(validate_downward_items(&here, value)),
                "serviceAccountToken" => errors.extend(validate_token_projection(&here, value)),
                other => errors.push(unsupported_type(&here, other, SUPPORTED_PROJECTED_SOURCES)),
            }
        }
    }
    errors
}

/// A bound token's lifetime and file, as kube-apiserver's `ValidateProjectedVolumeSource`
/// checks them (`expirationSeconds` defaults to an hour).
fn validate_token_projection(path: &str, source: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let seconds = source["expirationSeconds"].as_i64().unwrap_or(3600);
    let at = format!("{path}.expirationSeconds");
    if seconds < 600 {
        errors.push(FieldError::invalid(
            &at,
            seconds,
            "may not specify a duration less than 10 minutes",
        ));
    }
    if seconds > 1 << 32 {
        errors.push(FieldError::invalid(
            &at,
            seconds,
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let file = source["path"].as_str().unwrap_or_default();
    let at = format!("{path}.path");
    if file.is_empty() {
        errors.push(FieldError::required(&at, ""));
    } else if file.starts_with('/') {
        errors.push(FieldError::invalid(&at, file, "must be a relative path"));
    } else if file.split('/').any(|part| part == "..") {
        errors.push(FieldError::invalid(&at, file, "must not contain '..'"));
    } else if file.starts_with("..") {
        errors.push(FieldError::invalid(&at, file, "must not start with '..'"));
    }
    errors
}

/// Each item names a supported field or a container's resource, as in Kubernetes.
fn validate_downward_items(path: &str, source: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let items = source["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (index, item) in items.iter().enumerate() {
        let at = format!("{path}.items[{index}]");
        let Ok(item) = serde_json::from_value::<DownwardAPIVolumeFile>(item.clone()) else {
            continue;
        };
        if item.path.is_empty() {
            errors.push(FieldError::required(&format!("{at}.path"), ""));
        }
        match (&item.field_ref, &item.resource_field_ref) {
            (Some(field), None) => validate_field_ref(
                &format!("{at}.fieldRef"),
                field,
                VOLUME_FIELD_PATHS,
                &mut errors,
            ),
            (None, Some(resource)) => validate_resource_ref(
                &format!("{at}.resourceFieldRef"),
                resource,
                true,
                &mut errors,
            ),
            (None, None) => errors.push(FieldError::required(
                &at,
                "one of `fieldRef` or `resourceFieldRef`",
            )),
            (Some(_), Some(_)) => errors.push(FieldError::invalid(
                &at,
                "",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            )),
        }
    }
    errors
}

#[cfg(test)]
mod tests;
