//! EndpointSlice rules as the API server has them (`ValidateEndpointSlice`): a known
//! addressType, at most 1,000 endpoints of 1 to 100 addresses of that type, at most 100
//! ports with unique names, each a valid port and protocol.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::names::{is_dns1123_subdomain, validate_port_name, validate_port_number};
use super::FieldError;

const ADDRESS_TYPES: &[&str] = &["IPv4", "IPv6", "FQDN"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 100;

pub(super) fn validate_endpoint_slice(slice: &EndpointSlice) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let address_type = slice.address_type.as_str();
    if address_type.is_empty() {
        errors.push(FieldError::required("addressType", ""));
    } else if !ADDRESS_TYPES.contains(&address_type) {
        errors.push(FieldError::unsupported(
            "addressType",
            address_type,
            ADDRESS_TYPES,
        ));
    }
    if slice.endpoints.len() > MAX_ENDPOINTS {
        errors.push(FieldError::new(
            "endpoints",
            format!(
                "Too many: {}: must have at most {MAX_ENDPOINTS} items",
                slice.endpoints.len()
            ),
        ));
    }
    for (i, endpoint) in slice.endpoints.iter().enumerate() {
        let path = format!("endpoints[{i}].addresses");
        match endpoint.addresses.len() {
            0 => errors.push(FieldError::required(
                &path,
                "must contain at least 1 address",
            )),
            n if n > MAX_ADDRESSES => errors.push(FieldError::new(
                &path,
                format!("Too many: {n}: must have at most {MAX_ADDRESSES} items"),
            )),
            _ => {}
        }
        for (j, address) in endpoint.addresses.iter().enumerate() {
            let valid = match address_type {
                "IPv4" => address.parse::<Ipv4Addr>().is_ok(),
                "IPv6" => address.parse::<Ipv6Addr>().is_ok(),
                _ => is_dns1123_subdomain(address),
            };
            if !valid {
                errors.push(FieldError::invalid(
                    &format!("{path}[{j}]"),
                    address.as_str(),
                    format!("must be a valid {address_type} address"),
                ));
            }
        }
        if let Some(node) = endpoint.node_name.as_deref() {
            if !is_dns1123_subdomain(node) {
                errors.push(FieldError::invalid(
                    &format!("endpoints[{i}].nodeName"),
                    node,
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                ));
            }
        }
    }
    let ports = slice.ports.as_deref().unwrap_or_default();
    if ports.len() > MAX_PORTS {
        errors.push(FieldError::new(
            "ports",
            format!(
                "Too many: {}: must have at most {MAX_PORTS} items",
                ports.len()
            ),
        ));
    }
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let name = port.name.as_deref().unwrap_or_default();
        if !name.is_empty() {
            errors.extend(validate_port_name(&format!("ports[{i}].name"), name));
        }
        if !names.insert(name) {
            errors.push(FieldError::duplicate(&format!("ports[{i}].name"), name));
        }
        if let Some(number) = port.port {
            errors.extend(validate_port_number(&format!("ports[{i}].port"), number));
        }
        match port.protocol.as_deref() {
            None => errors.push(FieldError::required(&format!("ports[{i}].protocol"), "")),
            Some(p) if !PROTOCOLS.contains(&p) => errors.push(FieldError::unsupported(
                &format!("ports[{i}].protocol"),
                p,
                PROTOCOLS,
            )),
            Some(_) => {}
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort};

    fn slice(address: &str) -> EndpointSlice {
        EndpointSlice {
            address_type: "IPv4".into(),
            endpoints: vec![Endpoint {
                addresses: vec![address.into()],
                ..Default::default()
            }],
            ports: Some(vec![EndpointPort {
                name: Some("http".into()),
                port: Some(80),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn a_slice_of_ipv4_addresses_passes() {
        assert!(validate_endpoint_slice(&slice("10.42.0.5")).is_empty());
    }

    #[test]
    fn an_address_of_another_type_and_a_bad_protocol_are_refused() {
        let mut bad = slice("fe80::1");
        bad.ports.as_mut().unwrap()[0].protocol = Some("HTTP".into());
        let errors = validate_endpoint_slice(&bad);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["endpoints[0].addresses[0]", "ports[0].protocol"]);
    }

    #[test]
    fn an_unknown_address_type_is_refused() {
        let mut bad = slice("10.42.0.5");
        bad.address_type = "IPv5".into();
        let errors = validate_endpoint_slice(&bad);
        assert_eq!(errors[0].path, "addressType");
        assert!(errors[0].message.starts_with("Unsupported value"));
    }
}
