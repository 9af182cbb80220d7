//! Service rules: type, ports (names, numbers, target ports, node ports) and selector.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::ServiceSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    validate_dns1123_label, validate_dns1123_subdomain, validate_labels, validate_port_name,
    validate_port_number, FieldError,
};

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const AFFINITIES: &[&str] = &["ClientIP", "None"];

/// Validates a Service spec at `path`. Node port ranges are the allocator's business;
/// here a node port only has to be a port number, and only where the type exposes one.
pub fn validate_service_spec(path: &str, spec: &ServiceSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let service_type = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !TYPES.contains(&service_type) {
        errors.push(FieldError::unsupported(
            &format!("{path}.type"),
            service_type,
            TYPES,
        ));
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    if service_type == "ExternalName" {
        match spec
            .external_name
            .as_deref()
            .map(|name| name.trim_end_matches('.'))
        {
            None | Some("") => {
                errors.push(FieldError::required(&format!("{path}.externalName"), ""))
            }
            Some(name) => errors.extend(validate_dns1123_subdomain(
                &format!("{path}.externalName"),
                name,
            )),
        }
    } else if ports.is_empty() && spec.cluster_ip.as_deref() != Some("None") {
        errors.push(FieldError::required(&format!("{path}.ports"), ""));
    }

    let mut names = HashSet::new();
    let mut port_protocols = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let at = format!("{path}.ports[{i}]");
        match port.name.as_deref().unwrap_or_default() {
            "" if ports.len() > 1 => errors.push(FieldError::required(&format!("{at}.name"), "")),
            "" => {}
            name => {
                errors.extend(validate_dns1123_label(&format!("{at}.name"), name));
                if !names.insert(name) {
                    errors.push(FieldError::duplicate(&format!("{at}.name"), name));
                }
            }
        }
        errors.extend(validate_port_number(&format!("{at}.port"), port.port));
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            errors.push(FieldError::unsupported(
                &format!("{at}.protocol"),
                protocol,
                PROTOCOLS,
            ));
        }
        if !port_protocols.insert((port.port, protocol)) {
            errors.push(FieldError::duplicate(
                &at,
                serde_json::json!({"port": port.port, "protocol": protocol}),
            ));
        }
        match &port.target_port {
            Some(IntOrString::Int(0)) | None => {}
            Some(IntOrString::Int(target)) => {
                errors.extend(validate_port_number(&format!("{at}.targetPort"), *target))
            }
            Some(IntOrString::String(name)) => {
                errors.extend(validate_port_name(&format!("{at}.targetPort"), name))
            }
        }
        if let Some(node_port) = port.node_port.filter(|p| *p != 0) {
            if matches!(service_type, "ClusterIP" | "ExternalName") {
                errors.push(FieldError::forbidden(
                    &format!("{at}.nodePort"),
                    &format!("may not be used when `type` is '{service_type}'"),
                ));
            } else {
                errors.extend(validate_port_number(&format!("{at}.nodePort"), node_port));
            }
        }
    }
    if let Some(selector) = &spec.selector {
        errors.extend(validate_labels(&format!("{path}.selector"), selector));
    }
    if let Some(affinity) = spec
        .session_affinity
        .as_deref()
        .filter(|a| !AFFINITIES.contains(a))
    {
        errors.push(FieldError::unsupported(
            &format!("{path}.sessionAffinity"),
            affinity,
            AFFINITIES,
        ));
    }
    errors
}
