//! What a Service's Endpoints should hold, from the Service and the pods of its namespace:
//! pure, so the rules are tested without a store.
//!
//! - pods the selector matches, with an IP, not terminating, not finished;
//! - ready pods (condition Ready=True) in `addresses`, the others in `notReadyAddresses`
//!   (all in `addresses` with `publishNotReadyAddresses`);
//! - each Service port's `targetPort` resolved per pod: a number as is, a name through the
//!   pod's containers' ports; a pod that declares no port of that name is left out, with
//!   the reason in [`Computed::left_out`];
//! - pods with the same resolved ports share a subset (Kubernetes' repacking), addresses
//!   sorted by IP so the result does not depend on the order pods were listed in.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, ObjectReference, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use skiff_proto::model::map_selects;

/// The subsets, and the pods that had to be left out with why.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Computed {
    pub subsets: Vec<EndpointSubset>,
    pub left_out: Vec<String>,
}

/// A resolved port: (name, port, protocol).
type PortKey = (String, i32, String);

pub fn compute(service: &Service, pods: &[Pod]) -> Computed {
    let Some(spec) = &service.spec else {
        return Computed::default();
    };
    let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
        return Computed::default();
    };
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let mut groups: BTreeMap<Vec<PortKey>, (Vec<EndpointAddress>, Vec<EndpointAddress>)> =
        BTreeMap::new();
    let mut left_out = Vec::new();
    for pod in pods {
        let meta = &pod.metadata;
        if meta.namespace.as_deref().unwrap_or("default") != namespace
            || !map_selects(selector, meta.labels.as_ref().unwrap_or(&BTreeMap::new()))
            || meta.deletion_timestamp.is_some()
        {
            continue;
        }
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or_default();
        let Some(ip) = status
            .and_then(|s| s.pod_ip.clone())
            .filter(|ip| !ip.is_empty())
        else {
            continue;
        };
        if matches!(phase, "Succeeded" | "Failed") {
            continue;
        }
        let pod_name = meta.name.clone().unwrap_or_default();
        let ports = match resolve_ports(spec.ports.as_deref().unwrap_or_default(), pod) {
            Ok(ports) => ports,
            Err(reason) => {
                left_out.push(format!("pod {pod_name}: {reason}"));
                continue;
            }
        };
        let address = EndpointAddress {
            ip,
            hostname: hostname_under(pod, service),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                namespace: Some(namespace.to_string()),
                name: Some(pod_name),
                uid: meta.uid.clone(),
                ..Default::default()
            }),
        };
        let (ready, not_ready) = groups.entry(ports).or_default();
        if is_ready(pod) || publish_not_ready {
            ready.push(address);
        } else {
            not_ready.push(address);
        }
    }
    let subsets = groups
        .into_iter()
        .map(|(ports, (mut ready, mut not_ready))| {
            ready.sort_by(|a, b| ip_order(&a.ip, &b.ip));
            not_ready.sort_by(|a, b| ip_order(&a.ip, &b.ip));
            EndpointSubset {
                addresses: Some(ready).filter(|a| !a.is_empty()),
                not_ready_addresses: Some(not_ready).filter(|a| !a.is_empty()),
                ports: Some(
                    ports
                        .into_iter()
                        .map(|(name, port, protocol)| EndpointPort {
                            name: Some(name).filter(|n| !n.is_empty()),
                            port,
                            protocol: Some(protocol),
                            app_protocol: None,
                        })
                        .collect::<Vec<_>>(),
                )
                .filter(|p| !p.is_empty()),
            }
        })
        .collect();
    Computed { subsets, left_out }
}

/// The pod's `hostname` when its `subdomain` names this service (as StatefulSet pods
/// under their governing service): DNS then answers `<hostname>.<service>.<ns>.svc`.
fn hostname_under(pod: &Pod, service: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.is_some() && spec.subdomain == service.metadata.name)
        .then(|| hostname.to_string())
}

fn ip_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (
        a.parse::<std::net::IpAddr>().ok(),
        b.parse::<std::net::IpAddr>().ok(),
    ) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

/// The pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The Service's ports for this pod, or why the pod cannot serve them.
fn resolve_ports(
    ports: &[k8s_openapi::api::core::v1::ServicePort],
    pod: &Pod,
) -> Result<Vec<PortKey>, String> {
    let mut resolved = Vec::with_capacity(ports.len());
    for port in ports {
        let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
        let target = match &port.target_port {
            None | Some(IntOrString::Int(0)) => port.port,
            Some(IntOrString::Int(n)) => *n,
            Some(IntOrString::String(name)) => named_port(pod, name, &protocol).ok_or_else(|| {
                format!("no container declares a {protocol} port named {name:?} (targetPort of service port {})", port.port)
            })?,
        };
        resolved.push((port.name.clone().unwrap_or_default(), target, protocol));
    }
    Ok(resolved)
}

/// The containerPort the pod's containers declare under `name` for `protocol`.
pub fn named_port(pod: &Pod, name: &str, protocol: &str) -> Option<i32> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name.as_deref() == Some(name) && p.protocol.as_deref().unwrap_or("TCP") == protocol
        })
        .map(|p| p.container_port)
}
