//! Required node affinity (`requiredDuringSchedulingIgnoredDuringExecution`): the
//! richer form of nodeSelector. Terms are ORed, a term's requirements ANDed; a term with
//! no requirement matches nothing, as in Kubernetes. Preferred affinity only scores in
//! Kubernetes and is ignored here.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
};

/// Whether the node (`name`, `labels`) satisfies the pod's required node affinity (true
/// when it has none).
pub fn required_affinity_matches(
    spec: &PodSpec,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    required.is_none_or(|selector| selects_node(selector, name, labels))
}

/// Whether a required node selector (a pod's affinity, a volume's node affinity) allows
/// the node.
pub fn selects_node(
    selector: &NodeSelector,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector
        .node_selector_terms
        .iter()
        .any(|term| term_matches(term, name, labels))
}

fn term_matches(term: &NodeSelectorTerm, name: &str, labels: &BTreeMap<String, String>) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let fields_ok = fields.iter().all(|r| {
        // metadata.name is the only field Kubernetes supports here.
        r.key == "metadata.name" && requirement_matches(r, Some(name))
    });
    fields_ok
        && expressions
            .iter()
            .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
}

fn requirement_matches(requirement: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let number = |v: &str| v.parse::<i64>().ok();
    let compare = |ordering: std::cmp::Ordering| match (value.and_then(number), values) {
        (Some(have), [limit]) => number(limit).is_some_and(|limit| have.cmp(&limit) == ordering),
        _ => false,
    };
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|w| w == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|w| w == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => compare(std::cmp::Ordering::Greater),
        "Lt" => compare(std::cmp::Ordering::Less),
        _ => false,
    }
}
