//! Label selectors: which labels a `LabelSelector` (workloads) or a plain map (Services,
//! nodeSelector) selects. Validation uses it to check selector vs template labels; the
//! controllers and the scheduler use it to find pods and nodes.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` satisfy `selector`: every matchLabels pair and every matchExpression.
/// An empty selector matches everything (callers refuse empty selectors where Kubernetes
/// does).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .as_ref()
        .is_none_or(|wanted| map_selects(wanted, labels));
    let expressions_ok = selector
        .match_expressions
        .iter()
        .flatten()
        .all(|requirement| {
            let value = labels.get(&requirement.key);
            let values = requirement.values.as_deref().unwrap_or_default();
            match requirement.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        });
    labels_ok && expressions_ok
}

/// Whether `labels` contain every pair of `selector` (a Service's or nodeSelector's map).
pub fn map_selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
}

/// Whether the selector has no requirement at all (and so would select everything).
pub fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: Some(values.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn match_labels_must_all_be_present() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web"), ("tier", "front")])),
            ..Default::default()
        };
        assert!(selector_matches(
            &selector,
            &labels(&[("app", "web"), ("tier", "front"), ("x", "y")])
        ));
        assert!(!selector_matches(&selector, &labels(&[("app", "web")])));
        assert!(!selector_matches(
            &selector,
            &labels(&[("app", "db"), ("tier", "front")])
        ));
    }

    #[test]
    fn match_expressions_follow_their_operator() {
        let pod = labels(&[("env", "prod"), ("app", "web")]);
        let with = |requirement| LabelSelector {
            match_expressions: Some(vec![requirement]),
            ..Default::default()
        };
        assert!(selector_matches(
            &with(requirement("env", "In", &["prod", "qa"])),
            &pod
        ));
        assert!(!selector_matches(
            &with(requirement("env", "NotIn", &["prod"])),
            &pod
        ));
        assert!(selector_matches(
            &with(requirement("zone", "NotIn", &["a"])),
            &pod
        ));
        assert!(selector_matches(
            &with(requirement("app", "Exists", &[])),
            &pod
        ));
        assert!(!selector_matches(
            &with(requirement("app", "DoesNotExist", &[])),
            &pod
        ));
        assert!(!selector_matches(
            &with(requirement("app", "Bogus", &[])),
            &pod
        ));
    }

    #[test]
    fn empty_selectors_select_everything() {
        let empty = LabelSelector::default();
        assert!(selector_is_empty(&empty));
        assert!(selector_matches(&empty, &labels(&[])));
        assert!(map_selects(&BTreeMap::new(), &labels(&[("a", "b")])));
        assert!(map_selects(
            &labels(&[("disktype", "ssd")]),
            &labels(&[("disktype", "ssd"), ("a", "b")])
        ));
        assert!(!map_selects(
            &labels(&[("disktype", "ssd")]),
            &labels(&[("disktype", "hdd")])
        ));
    }
}
