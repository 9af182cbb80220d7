//! Downward API values of a pod, as the kubelet writes them into volumes: metadata fields
//! and the resources of one of its containers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, ResourceFieldSelector};

use crate::containerd::container::parse_quantity;

/// What a container without a limit may use: the node's capacity (as the kubelet does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCapacity {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub ephemeral_storage_bytes: i64,
}

impl NodeCapacity {
    /// This host's CPUs, memory and root filesystem size.
    pub fn of_host() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
            .map_or(0, |kb| kb * 1024);
        let storage = nix::sys::statvfs::statvfs("/")
            .map(|s| (s.blocks() as i64).saturating_mul(s.fragment_size() as i64))
            .unwrap_or(0);
        NodeCapacity {
            cpu_millis: cpus * 1000,
            memory_bytes: memory,
            ephemeral_storage_bytes: storage,
        }
    }
}

/// The value of a volume `fieldRef`: metadata only, as the API allows for volumes.
pub fn field_value(pod: &Pod, field_path: &str) -> Result<String, String> {
    let m = &pod.metadata;
    let empty = BTreeMap::new();
    let labels = m.labels.as_ref().unwrap_or(&empty);
    let annotations = m.annotations.as_ref().unwrap_or(&empty);
    if let Some(key) = subscript(field_path, "metadata.labels") {
        return Ok(labels.get(key).cloned().unwrap_or_default());
    }
    if let Some(key) = subscript(field_path, "metadata.annotations") {
        return Ok(annotations.get(key).cloned().unwrap_or_default());
    }
    Ok(match field_path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_else(|| "default".into()),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(labels),
        "metadata.annotations" => format_map(annotations),
        other => return Err(format!("unsupported fieldRef {other:?} in a volume")),
    })
}

/// `metadata.labels['key']` → `key`.
fn subscript<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.strip_prefix(prefix)?
        .strip_prefix("['")?
        .strip_suffix("']")
}

/// The kubelet's format: `key="value"` lines sorted by key, quoted as Go's `%q`.
pub fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of a `resourceFieldRef`, divided by its divisor and rounded up; a missing
/// limit is the node's capacity, a missing request the limit or zero.
pub fn resource_value(
    pod: &Pod,
    default_container: Option<&str>,
    sel: &ResourceFieldSelector,
    node: &NodeCapacity,
) -> Result<String, String> {
    let spec = pod.spec.as_ref().ok_or("pod has no spec")?;
    let name = sel
        .container_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .or(default_container)
        .ok_or_else(|| format!("resourceFieldRef {:?} names no container", sel.resource))?;
    let container = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .ok_or_else(|| format!("resourceFieldRef: no container {name:?} in the pod"))?;
    let (kind, resource) = sel
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported resource {:?}", sel.resource))?;
    let res = container.resources.as_ref();
    let limit = res
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get(resource));
    let request = res
        .and_then(|r| r.requests.as_ref())
        .and_then(|l| l.get(resource));
    let divisor = sel.divisor.as_ref().map_or("1", |d| d.0.as_str());
    let divisor = parse_quantity(divisor).ok_or_else(|| format!("invalid divisor {divisor:?}"))?;
    let quantity = match kind {
        "limits" => limit,
        "requests" => request.or(limit),
        _ => return Err(format!("unsupported resource {:?}", sel.resource)),
    };
    let parse = |q: &str| parse_quantity(q).ok_or_else(|| format!("invalid quantity {q:?}"));
    let value = match (resource, quantity) {
        ("cpu", Some(q)) => parse(&q.0)?.ceil_milli(),
        ("cpu", None) if kind == "limits" => node.cpu_millis,
        ("memory", Some(q)) => parse(&q.0)?.ceil_units(),
        ("memory", None) if kind == "limits" => node.memory_bytes,
        ("ephemeral-storage", Some(q)) => parse(&q.0)?.ceil_units(),
        ("ephemeral-storage", None) if kind == "limits" => node.ephemeral_storage_bytes,
        ("cpu" | "memory" | "ephemeral-storage", None) => 0,
        _ => return Err(format!("unsupported resource {:?}", sel.resource)),
    };
    let per = if resource == "cpu" {
        divisor.ceil_milli()
    } else {
        divisor.ceil_units()
    };
    if per <= 0 {
        return Err("divisor must be positive".into());
    }
    Ok(((value + per - 1) / per).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "prod", "uid": "u-1",
                "labels": {"app": "web", "tier": "front \"x\""}, "annotations": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "resources": {
                "limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}}},
                {"name": "bare"}]}
        }))
        .unwrap()
    }

    const NODE: NodeCapacity = NodeCapacity {
        cpu_millis: 2000,
        memory_bytes: 1 << 30,
        ephemeral_storage_bytes: 10,
    };

    #[test]
    fn metadata_fields() {
        let p = pod();
        assert_eq!(field_value(&p, "metadata.name").unwrap(), "web");
        assert_eq!(field_value(&p, "metadata.namespace").unwrap(), "prod");
        assert_eq!(field_value(&p, "metadata.uid").unwrap(), "u-1");
        assert_eq!(
            field_value(&p, "metadata.labels").unwrap(),
            "app=\"web\"\ntier=\"front \\\"x\\\"\""
        );
        assert_eq!(field_value(&p, "metadata.labels['app']").unwrap(), "web");
        assert_eq!(field_value(&p, "metadata.annotations").unwrap(), "a=\"b\"");
        assert!(field_value(&p, "status.podIP").is_err());
    }

    #[test]
    fn resources_with_divisors_and_node_defaults() {
        let p = pod();
        let sel = |c: &str, r: &str, d: Option<&str>| ResourceFieldSelector {
            container_name: Some(c.into()),
            resource: r.into(),
            divisor: d.map(|d| Quantity(d.into())),
        };
        let v = |s: ResourceFieldSelector| resource_value(&p, None, &s, &NODE).unwrap();
        assert_eq!(v(sel("c", "limits.cpu", None)), "1"); // 500m rounds up to 1 core
        assert_eq!(v(sel("c", "limits.cpu", Some("1m"))), "500");
        assert_eq!(v(sel("c", "requests.cpu", Some("1m"))), "250");
        assert_eq!(v(sel("c", "limits.memory", Some("1Mi"))), "64");
        assert_eq!(v(sel("c", "requests.memory", Some("1Mi"))), "64");
        assert_eq!(v(sel("bare", "limits.cpu", None)), "2");
        assert_eq!(v(sel("bare", "limits.memory", Some("1Mi"))), "1024");
        assert_eq!(v(sel("bare", "requests.memory", None)), "0");
        assert!(resource_value(&p, None, &sel("nope", "limits.cpu", None), &NODE).is_err());
        assert!(resource_value(&p, None, &sel("c", "limits.gpu", None), &NODE).is_err());
    }
}
