//! Container rules: names, images, policies, ports, mounts, probes and resources.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Container, Probe, ResourceRequirements, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{validate_dns1123_label, validate_port_name, validate_port_number, FieldError};
use crate::model::quantity::parse_quantity;

const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];

/// Init and app containers differ in what they may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ContainerKind {
    Init,
    App,
}

/// Validates one container at `path` (`spec.containers[0]`); `volumes` are the pod's
/// volume names, which mounts must refer to.
pub(super) fn validate_container(
    path: &str,
    c: &Container,
    kind: ContainerKind,
    volumes: &HashSet<&str>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if c.name.is_empty() {
        errors.push(FieldError::required(&format!("{path}.name"), ""));
    } else {
        errors.extend(validate_dns1123_label(&format!("{path}.name"), &c.name));
    }
    if c.image
        .as_deref()
        .is_none_or(|image| image.trim().is_empty())
    {
        errors.push(FieldError::required(&format!("{path}.image"), ""));
    }
    check_enum(
        &mut errors,
        &format!("{path}.imagePullPolicy"),
        c.image_pull_policy.as_deref(),
        PULL_POLICIES,
    );
    check_enum(
        &mut errors,
        &format!("{path}.terminationMessagePolicy"),
        c.termination_message_policy.as_deref(),
        MESSAGE_POLICIES,
    );

    // A container-level restartPolicy turns an init container into a sidecar; it means
    // nothing on app containers.
    let restart_path = format!("{path}.restartPolicy");
    match (kind, c.restart_policy.as_deref()) {
        (ContainerKind::App, Some(_)) => errors.push(FieldError::forbidden(
            &restart_path,
            "may not be set for non-init containers",
        )),
        (ContainerKind::Init, Some(policy)) if policy != "Always" => {
            errors.push(FieldError::unsupported(&restart_path, policy, &["Always"]))
        }
        _ => {}
    }
    let sidecar = kind == ContainerKind::Init && c.restart_policy.as_deref() == Some("Always");

    validate_ports(path, c, &mut errors);
    super::env::validate_env(path, c, &mut errors);
    validate_mounts(path, c, volumes, &mut errors);

    let probes = [
        ("livenessProbe", &c.liveness_probe, true),
        ("readinessProbe", &c.readiness_probe, false),
        ("startupProbe", &c.startup_probe, true),
    ];
    for (field, probe, success_must_be_one) in probes {
        let Some(probe) = probe else { continue };
        let at = format!("{path}.{field}");
        if kind == ContainerKind::Init && !sidecar {
            errors.push(FieldError::forbidden(
                &at,
                "may not be set for init containers without restartPolicy=Always",
            ));
        } else {
            errors.extend(validate_probe(&at, probe, success_must_be_one));
        }
    }
    if let Some(resources) = &c.resources {
        errors.extend(validate_resources(&format!("{path}.resources"), resources));
    }
    errors
}

fn check_enum(errors: &mut Vec<FieldError>, path: &str, value: Option<&str>, allowed: &[&str]) {
    if let Some(value) = value.filter(|v| !allowed.contains(v)) {
        errors.push(FieldError::unsupported(path, value, allowed));
    }
}

fn validate_ports(path: &str, c: &Container, errors: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let at = format!("{path}.ports[{i}]");
        errors.extend(validate_port_number(
            &format!("{at}.containerPort"),
            port.container_port,
        ));
        if let Some(host_port) = port.host_port.filter(|p| *p != 0) {
            errors.extend(validate_port_number(&format!("{at}.hostPort"), host_port));
        }
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            errors.extend(validate_port_name(&format!("{at}.name"), name));
            if !names.insert(name) {
                errors.push(FieldError::duplicate(&format!("{at}.name"), name));
            }
        }
        check_enum(
            errors,
            &format!("{at}.protocol"),
            port.protocol.as_deref(),
            PROTOCOLS,
        );
    }
}

fn validate_mounts(
    path: &str,
    c: &Container,
    volumes: &HashSet<&str>,
    errors: &mut Vec<FieldError>,
) {
    let mut mount_paths = HashSet::new();
    for (i, mount) in c.volume_mounts.iter().flatten().enumerate() {
        let at = format!("{path}.volumeMounts[{i}]");
        if mount.name.is_empty() {
            errors.push(FieldError::required(&format!("{at}.name"), ""));
        } else if !volumes.contains(mount.name.as_str()) {
            errors.push(FieldError::not_found(
                &format!("{at}.name"),
                mount.name.as_str(),
            ));
        }
        validate_sub_path(&at, mount, errors);
        if mount.mount_path.is_empty() {
            errors.push(FieldError::required(&format!("{at}.mountPath"), ""));
        } else if !mount_paths.insert(mount.mount_path.as_str()) {
            errors.push(FieldError::invalid(
                &format!("{at}.mountPath"),
                mount.mount_path.as_str(),
                "must be unique",
            ));
        }
    }
}

/// `subPath` stays inside the volume; `subPathExpr` is its alternative; propagation is
/// private only (the agent makes no shared or slave mounts).
fn validate_sub_path(at: &str, mount: &VolumeMount, errors: &mut Vec<FieldError>) {
    let sub_path = mount.sub_path.as_deref().unwrap_or_default();
    let expr = mount.sub_path_expr.as_deref().unwrap_or_default();
    if !sub_path.is_empty() && !expr.is_empty() {
        errors.push(FieldError::invalid(
            &format!("{at}.subPathExpr"),
            expr,
            "subPathExpr and subPath are mutually exclusive",
        ));
    }
    for (field, value) in [("subPath", sub_path), ("subPathExpr", expr)] {
        if value.starts_with('/') {
            errors.push(FieldError::invalid(
                &format!("{at}.{field}"),
                value,
                "must be a relative path",
            ));
        } else if value.split('/').any(|part| part == "..") {
            errors.push(FieldError::invalid(
                &format!("{at}.{field}"),
                value,
                "must not contain '..'",
            ));
        }
    }
    if let Some(mode) = mount.mount_propagation.as_deref() {
        if mode != "None" {
            errors.push(FieldError::new(
                &format!("{at}.mountPropagation"),
                format!(
                    "Unsupported value: {mode:?}: supported values: \"None\" (skiff mounts \
                     volumes with private propagation only)"
                ),
            ));
        }
    }
}

/// Exactly one handler and sane timings. Liveness and startup probes decide on failure
/// alone, so their successThreshold must be 1.
fn validate_probe(path: &str, probe: &Probe, success_must_be_one: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let handlers = [
        probe.exec.is_some(),
        probe.http_get.is_some(),
        probe.tcp_socket.is_some(),
        probe.grpc.is_some(),
    ];
    match handlers.iter().filter(|set| **set).count() {
        0 => errors.push(FieldError::required(path, "must specify a handler type")),
        1 => {}
        _ => errors.push(FieldError::forbidden(
            path,
            "may not specify more than 1 handler type",
        )),
    }
    if let Some(delay) = probe.initial_delay_seconds.filter(|d| *d < 0) {
        errors.push(FieldError::invalid(
            &format!("{path}.initialDelaySeconds"),
            delay,
            "must be greater than or equal to 0",
        ));
    }
    let positive = [
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ];
    for (field, value) in positive {
        if let Some(value) = value.filter(|v| *v < 1) {
            errors.push(FieldError::invalid(
                &format!("{path}.{field}"),
                value,
                "must be greater than or equal to 1",
            ));
        }
    }
    if let Some(threshold) = probe
        .success_threshold
        .filter(|t| success_must_be_one && *t > 1)
    {
        errors.push(FieldError::invalid(
            &format!("{path}.successThreshold"),
            threshold,
            "must be 1",
        ));
    }
    if let Some(http) = &probe.http_get {
        errors.extend(validate_probe_port(
            &format!("{path}.httpGet.port"),
            &http.port,
        ));
        if let Some(scheme) = http
            .scheme
            .as_deref()
            .filter(|s| !["HTTP", "HTTPS"].contains(s))
        {
            errors.push(FieldError::unsupported(
                &format!("{path}.httpGet.scheme"),
                scheme,
                &["HTTP", "HTTPS"],
            ));
        }
    }
    if let Some(tcp) = &probe.tcp_socket {
        errors.extend(validate_probe_port(
            &format!("{path}.tcpSocket.port"),
            &tcp.port,
        ));
    }
    if let Some(grpc) = &probe.grpc {
        errors.extend(validate_port_number(
            &format!("{path}.grpc.port"),
            grpc.port,
        ));
    }
    errors
}

/// A probe port is a number, or the name of one of the container's ports.
fn validate_probe_port(path: &str, port: &IntOrString) -> Vec<FieldError> {
    match port {
        IntOrString::Int(number) => validate_port_number(path, *number),
        IntOrString::String(name) => validate_port_name(path, name),
    }
}

/// Quantities must parse and be non-negative; a request may not exceed its limit.
fn validate_resources(path: &str, resources: &ResourceRequirements) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let limits = parse_all(
        &format!("{path}.limits"),
        resources.limits.as_ref(),
        &mut errors,
    );
    let requests = parse_all(
        &format!("{path}.requests"),
        resources.requests.as_ref(),
        &mut errors,
    );
    for (name, (request, request_text)) in &requests {
        if let Some((limit, limit_text)) = limits.get(name) {
            if request > limit {
                errors.push(FieldError::invalid(
                    &format!("{path}.requests[{name}]"),
                    request_text.as_str(),
                    format!("must be less than or equal to {name} limit of {limit_text}"),
                ));
            }
        }
    }
    errors
}

/// Parses every quantity of a limits/requests map into milli-units, reporting bad ones.
fn parse_all(
    path: &str,
    map: Option<&BTreeMap<String, Quantity>>,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, (i128, String)> {
    let mut parsed = BTreeMap::new();
    for (name, quantity) in map.into_iter().flatten() {
        let at = format!("{path}[{name}]");
        match parse_quantity(&quantity.0) {
            Err(error) => errors.push(FieldError::invalid(&at, quantity.0.as_str(), error)),
            Ok(milli) if milli < 0 => errors.push(FieldError::invalid(
                &at,
                quantity.0.as_str(),
                "must be greater than or equal to 0",
            )),
            Ok(milli) => {
                parsed.insert(name.clone(), (milli, quantity.0.clone()));
            }
        }
    }
    parsed
}
