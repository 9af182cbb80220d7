//! Validation as the API server does it: every problem is collected (not just the first)
//! and reported against its field path, in the API server's words, so `skiff apply`
//! refuses the same manifests `kubectl apply` would and says why the same way.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::object::Object;

mod config;
mod container;
mod cron_job;
mod discovery;
mod env;
mod jobs;
mod names;
mod pod;
mod rbac;
mod service;
mod stateful_set;
mod storage;
mod volumes;
mod workloads;

pub use config::{validate_config_update, MAX_CONFIG_SIZE};
pub use jobs::validate_job_update;
pub use names::{
    is_dns1123_label, is_dns1123_subdomain, validate_annotations, validate_config_key,
    validate_dns1035_label, validate_dns1123_label, validate_dns1123_subdomain,
    validate_label_value, validate_labels, validate_port_name, validate_port_number,
    validate_qualified_name, DNS1123_LABEL_MAX_LEN, DNS1123_SUBDOMAIN_MAX_LEN,
};
pub use pod::{validate_pod, validate_pod_spec};
pub use rbac::validate_role_ref_update;
pub use service::validate_service_spec;
pub use workloads::validate_label_selector;

/// One invalid field: `spec.containers[0].image: Required value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, e.g. `spec.containers[0].ports[1].name`.
    pub path: String,
    /// What is wrong, starting with the API server's error type (`Invalid value: ...`).
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Renders a bad value like the API server: strings quoted, numbers bare.
fn render(value: serde_json::Value) -> String {
    value.to_string()
}

impl FieldError {
    pub fn new(path: &str, message: impl Into<String>) -> Self {
        FieldError {
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// `Required value`, with an optional explanation.
    pub fn required(path: &str, detail: &str) -> Self {
        match detail {
            "" => Self::new(path, "Required value"),
            detail => Self::new(path, format!("Required value: {detail}")),
        }
    }

    /// `Invalid value: "x": <detail>`.
    pub fn invalid(
        path: &str,
        value: impl Into<serde_json::Value>,
        detail: impl fmt::Display,
    ) -> Self {
        Self::new(
            path,
            format!("Invalid value: {}: {detail}", render(value.into())),
        )
    }

    /// `Unsupported value: "x": supported values: "A", "B"`.
    pub fn unsupported(path: &str, value: &str, supported: &[&str]) -> Self {
        let supported: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Self::new(
            path,
            format!(
                "Unsupported value: {value:?}: supported values: {}",
                supported.join(", ")
            ),
        )
    }

    /// `Duplicate value: "x"`.
    pub fn duplicate(path: &str, value: impl Into<serde_json::Value>) -> Self {
        Self::new(path, format!("Duplicate value: {}", render(value.into())))
    }

    /// `Not found: "x"`.
    pub fn not_found(path: &str, value: impl Into<serde_json::Value>) -> Self {
        Self::new(path, format!("Not found: {}", render(value.into())))
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(path: &str, detail: &str) -> Self {
        Self::new(path, format!("Forbidden: {detail}"))
    }

    /// `Too long: must have at most <n> bytes`.
    pub fn too_long(path: &str, max_bytes: usize) -> Self {
        Self::new(
            path,
            format!("Too long: must have at most {max_bytes} bytes"),
        )
    }
}

/// Every problem found in one object. Displays like the API server's aggregate: one error
/// alone, several as `[a, b]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_all(.errors))]
pub struct ValidationError {
    pub errors: Vec<FieldError>,
}

fn display_all(errors: &[FieldError]) -> String {
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    match &all[..] {
        [one] => one.clone(),
        _ => format!("[{}]", all.join(", ")),
    }
}

impl ValidationError {
    /// `Ok` when `errors` is empty.
    pub fn check(errors: Vec<FieldError>) -> Result<(), ValidationError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { errors })
        }
    }
}

/// Which rule an object's name must follow; it differs per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    Dns1123Subdomain,
    Dns1123Label,
    /// A label starting with a letter (Services).
    Dns1035Label,
    /// Anything usable as one path segment (RBAC objects: `system:basic-user`).
    PathSegment,
}

impl NameRule {
    fn validate(self, path: &str, name: &str) -> Vec<FieldError> {
        match self {
            NameRule::Dns1123Subdomain => validate_dns1123_subdomain(path, name),
            NameRule::Dns1123Label => validate_dns1123_label(path, name),
            NameRule::Dns1035Label => validate_dns1035_label(path, name),
            NameRule::PathSegment => rbac::validate_path_segment(path, name),
        }
    }
}

/// Validates an object's metadata: name (or generateName), namespace, labels, annotations.
/// An empty namespace is fine for namespaced kinds (defaulting fills it in); a set one is
/// refused for cluster-scoped kinds.
pub fn validate_object_meta(
    path: &str,
    meta: &ObjectMeta,
    namespaced: bool,
    rule: NameRule,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = meta.name.as_deref().unwrap_or_default();
    let generate_name = meta.generate_name.as_deref().unwrap_or_default();
    if !name.is_empty() {
        errors.extend(rule.validate(&format!("{path}.name"), name));
    } else if !generate_name.is_empty() {
        // generateName is a prefix: a trailing '-' is fine since a suffix follows.
        let masked = match generate_name.strip_suffix('-') {
            Some(stem) if !stem.is_empty() => format!("{stem}a"),
            _ => generate_name.to_string(),
        };
        errors.extend(rule.validate(&format!("{path}.generateName"), &masked));
    } else {
        errors.push(FieldError::required(
            &format!("{path}.name"),
            "name or generateName is required",
        ));
    }
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    if !namespace.is_empty() {
        if namespaced {
            errors.extend(validate_dns1123_label(
                &format!("{path}.namespace"),
                namespace,
            ));
        } else {
            errors.push(FieldError::forbidden(
                &format!("{path}.namespace"),
                "not allowed on this type",
            ));
        }
    }
    errors.extend(validate_template_meta(path, meta));
    errors
}

/// Labels and annotations only: what matters in a pod template's metadata.
pub(crate) fn validate_template_meta(path: &str, meta: &ObjectMeta) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(labels) = &meta.labels {
        errors.extend(validate_labels(&format!("{path}.labels"), labels));
    }
    if let Some(annotations) = &meta.annotations {
        errors.extend(validate_annotations(
            &format!("{path}.annotations"),
            annotations,
        ));
    }
    errors
}

/// Validates any supported object: metadata for all kinds, plus each kind's spec rules
/// (pods, workloads' selectors and templates, services, config keys).
pub fn validate_object(object: &Object) -> Result<(), ValidationError> {
    let meta = object.metadata();
    let subdomain =
        |namespaced| validate_object_meta("metadata", meta, namespaced, NameRule::Dns1123Subdomain);
    let errors = match object {
        Object::Pod(pod) => return validate_pod(pod),
        Object::ReplicaSet(rs) => [subdomain(true), workloads::validate_replica_set(rs)].concat(),
        Object::Deployment(d) => [subdomain(true), workloads::validate_deployment(d)].concat(),
        Object::DaemonSet(ds) => [subdomain(true), workloads::validate_daemon_set(ds)].concat(),
        Object::StatefulSet(sts) => {
            [subdomain(true), workloads::validate_stateful_set(sts)].concat()
        }
        Object::Job(job) => [subdomain(true), jobs::validate_job(job)].concat(),
        Object::CronJob(cj) => [subdomain(true), workloads::validate_cron_job(cj)].concat(),
        Object::Service(svc) => {
            let mut errors = validate_object_meta("metadata", meta, true, NameRule::Dns1035Label);
            match &svc.spec {
                Some(spec) => errors.extend(validate_service_spec("spec", spec)),
                None => errors.push(FieldError::required("spec", "")),
            }
            errors
        }
        Object::Endpoints(_) => subdomain(true),
        Object::ConfigMap(cm) => [subdomain(true), config::validate_config_map(cm)].concat(),
        Object::Secret(secret) => [subdomain(true), config::validate_secret(secret)].concat(),
        Object::Namespace(_) => {
            validate_object_meta("metadata", meta, false, NameRule::Dns1123Label)
        }
        Object::Node(_) => subdomain(false),
        Object::PersistentVolume(pv) => {
            [subdomain(false), storage::validate_persistent_volume(pv)].concat()
        }
        Object::PersistentVolumeClaim(pvc) => [
            subdomain(true),
            storage::validate_persistent_volume_claim(pvc),
        ]
        .concat(),
        Object::StorageClass(class) => {
            [subdomain(false), storage::validate_storage_class(class)].concat()
        }
        Object::ServiceAccount(_) => subdomain(true),
        Object::EndpointSlice(slice) => {
            [subdomain(true), discovery::validate_endpoint_slice(slice)].concat()
        }
        Object::Role(role) => [
            validate_object_meta("metadata", meta, true, NameRule::PathSegment),
            rbac::validate_rules("rules", role.rules.as_ref(), true),
        ]
        .concat(),
        Object::ClusterRole(role) => [
            validate_object_meta("metadata", meta, false, NameRule::PathSegment),
            rbac::validate_rules("rules", role.rules.as_ref(), false),
            rbac::validate_aggregation(role.aggregation_rule.as_ref()),
        ]
        .concat(),
        Object::RoleBinding(b) => [
            validate_object_meta("metadata", meta, true, NameRule::PathSegment),
            rbac::validate_binding(&b.role_ref, b.subjects.as_ref(), true),
        ]
        .concat(),
        Object::ClusterRoleBinding(b) => [
            validate_object_meta("metadata", meta, false, NameRule::PathSegment),
            rbac::validate_binding(&b.role_ref, b.subjects.as_ref(), false),
        ]
        .concat(),
    };
    ValidationError::check(errors)
}

#[cfg(test)]
mod tests;
