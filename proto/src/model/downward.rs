//! The downward API's container resources (`resourceFieldRef`) as text: what the kubelet
//! puts in an environment variable or a `downwardAPI` volume file, and what `kubectl
//! describe` shows.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::quantity::parse_quantity;

/// A resource of `container` (`limits.cpu`, `requests.memory`, ...) divided by `divisor`
/// (default 1) and rounded up. A limit the container leaves unset reads as the node's
/// allocatable amount (kubectl passes none and shows "node allocatable"); an unset
/// request reads as 0 (the API server has already defaulted it to the limit).
pub fn container_resource_value(
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
        "requests" => request,
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
