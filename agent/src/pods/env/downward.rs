//! The downward API's values: a pod field (`fieldRef`) or a container resource
//! (`resourceFieldRef`) as text, as the kubelet renders them. Environment variables use
//! them; so do `downwardAPI` volume items.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_proto::model::parse_quantity;

use crate::pods::pod_runtime::SandboxInfo;

/// A pod field by its `fieldPath`; `metadata.labels['k']` of a missing key is empty.
pub fn field_value(pod: &Pod, sandbox: &SandboxInfo, path: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    if let Some((map, key)) = subscript(path) {
        let values = match map {
            "metadata.labels" => meta.labels.as_ref(),
            "metadata.annotations" => meta.annotations.as_ref(),
            _ => return Err(format!("unsupported fieldPath: {path}")),
        };
        return Ok(values.and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    let ip = |ip: Option<std::net::IpAddr>| ip.map(|ip| ip.to_string()).unwrap_or_default();
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_else(|| "default".into()),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        // The kubelet fails a container that asks for a host IP it does not know.
        "status.hostIP" | "status.hostIPs" => match sandbox.host_ip {
            Some(host) => host.to_string(),
            None => return Err("no host IP known for this node (see --node-ip)".into()),
        },
        // One address per pod here (IPv4 only), so the lists hold one entry.
        "status.podIP" | "status.podIPs" => ip(sandbox.pod_ip),
        _ => return Err(format!("unsupported fieldPath: {path}")),
    })
}

/// A resource of `container` (`limits.cpu`, `requests.memory`, ...) divided by `divisor`
/// (default 1) and rounded up. A limit the container leaves unset reads as the node's
/// allocatable amount; a request left unset reads as its limit, as the API server
/// defaults it, or else 0.
pub fn resource_value(
    container: &Container,
    allocatable: &BTreeMap<String, Quantity>,
    resource: &str,
    divisor: Option<&Quantity>,
) -> Result<String, String> {
    let unsupported = || format!("unsupported container resource : {resource}");
    let (section, name) = resource.split_once('.').ok_or_else(unsupported)?;
    if !matches!(name, "cpu" | "memory" | "ephemeral-storage") {
        return Err(unsupported());
    }
    let resources = container.resources.as_ref();
    let limit = resources
        .and_then(|r| r.limits.as_ref())
        .and_then(|m| m.get(name));
    let request = resources
        .and_then(|r| r.requests.as_ref())
        .and_then(|m| m.get(name));
    let quantity = match section {
        "limits" => limit.or_else(|| allocatable.get(name)),
        "requests" => request.or(limit),
        _ => return Err(unsupported()),
    };
    let milli = |q: Option<&Quantity>| -> Result<i128, String> {
        q.map(|q| parse_quantity(&q.0).map_err(|e| format!("{resource}: {:?}: {e}", q.0)))
            .transpose()
            .map(|v| v.unwrap_or(0).max(0))
    };
    let value = milli(quantity)?;
    let divisor = match milli(divisor)? {
        0 => 1000,
        d => d,
    };
    let shown = if name == "cpu" {
        div_ceil(value, divisor)
    } else {
        // Memory and storage divide whole units (`Quantity.Value()`, rounded up).
        div_ceil(div_ceil(value, 1000), div_ceil(divisor, 1000))
    };
    Ok(shown.to_string())
}

fn div_ceil(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

/// `metadata.labels['key']` → (`metadata.labels`, `key`).
fn subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (map, key) = inner.split_once("['")?;
    (!map.is_empty()).then_some((map, key))
}

/// A whole label or annotation map as the kubelet writes it: `key="value"` lines, sorted
/// by key, values quoted as Go's `%q` does.
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
