//! Pod and pod-spec rules: the pod-level fields here, volumes in `volumes.rs`, containers
//! in `container.rs`. Pod templates (Deployments, Jobs, ...) go through the same code.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Pod, PodSpec};

use super::container::{validate_container, ContainerKind};
use super::volumes::validate_volumes;
use super::{
    validate_dns1123_label, validate_dns1123_subdomain, validate_labels, validate_object_meta,
    FieldError, NameRule, ValidationError,
};

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];

/// Validates a pod: metadata (name a DNS-1123 subdomain, namespace a DNS-1123 label,
/// labels, annotations) and its spec. Works before or after defaulting.
pub fn validate_pod(pod: &Pod) -> Result<(), ValidationError> {
    let mut errors =
        validate_object_meta("metadata", &pod.metadata, true, NameRule::Dns1123Subdomain);
    match &pod.spec {
        Some(spec) => errors.extend(validate_pod_spec("spec", spec)),
        None => errors.push(FieldError::required("spec", "")),
    }
    ValidationError::check(errors)
}

/// Validates a pod spec found at `path` (`spec`, or `spec.template.spec` in workloads).
pub fn validate_pod_spec(path: &str, spec: &PodSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let volumes = validate_volumes(
        &format!("{path}.volumes"),
        spec.volumes.as_deref().unwrap_or_default(),
        &mut errors,
    );

    if spec.containers.is_empty() {
        errors.push(FieldError::required(&format!("{path}.containers"), ""));
    }
    // Container names share one namespace across init and app containers: they name the
    // container's log and status.
    let mut names = HashSet::new();
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| ("initContainers", i, c, ContainerKind::Init));
    let app = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| ("containers", i, c, ContainerKind::App));
    for (field, index, container, kind) in init.chain(app) {
        let at = format!("{path}.{field}[{index}]");
        errors.extend(validate_container(&at, container, kind, &volumes));
        if !container.name.is_empty() && !names.insert(container.name.as_str()) {
            errors.push(FieldError::duplicate(
                &format!("{at}.name"),
                container.name.as_str(),
            ));
        }
    }

    if let Some(policy) = spec.restart_policy.as_deref() {
        if !RESTART_POLICIES.contains(&policy) {
            errors.push(FieldError::unsupported(
                &format!("{path}.restartPolicy"),
                policy,
                RESTART_POLICIES,
            ));
        }
    }
    if let Some(policy) = spec.dns_policy.as_deref() {
        if !DNS_POLICIES.contains(&policy) {
            errors.push(FieldError::unsupported(
                &format!("{path}.dnsPolicy"),
                policy,
                DNS_POLICIES,
            ));
        }
    }
    if let Some(seconds) = spec.termination_grace_period_seconds.filter(|s| *s < 0) {
        errors.push(FieldError::invalid(
            &format!("{path}.terminationGracePeriodSeconds"),
            seconds,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(seconds) = spec.active_deadline_seconds.filter(|s| *s < 1) {
        errors.push(FieldError::invalid(
            &format!("{path}.activeDeadlineSeconds"),
            seconds,
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    if let Some(selector) = &spec.node_selector {
        errors.extend(validate_labels(&format!("{path}.nodeSelector"), selector));
    }
    if let Some(node) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        errors.extend(validate_dns1123_subdomain(
            &format!("{path}.nodeName"),
            node,
        ));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            errors.extend(validate_dns1123_label(&format!("{path}.{field}"), value));
        }
    }
    errors
}
