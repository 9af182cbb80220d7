//! A Job's podFailurePolicy: at most 20 rules, each with a known action and exactly one
//! of onExitCodes (an operator, known container names, ordered unique codes, no 0 for
//! In) and onPodConditions (qualified types, a status); FailIndex only with
//! backoffLimitPerIndex.

use k8s_openapi::api::batch::v1::{JobSpec, PodFailurePolicyRule};

use super::super::{validate_qualified_name, FieldError};

const MAX_RULES: usize = 20;
const MAX_EXIT_CODES: usize = 255;
const MAX_CONDITION_PATTERNS: usize = 20;
const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];

fn too_many(path: &str, actual: usize, max: usize) -> FieldError {
    FieldError::new(
        path,
        format!("Too many: {actual}: must have at most {max} items"),
    )
}

/// `<path>.podFailurePolicy`, given the spec it belongs to.
pub(super) fn validate(path: &str, spec: &JobSpec) -> Vec<FieldError> {
    let rules = spec
        .pod_failure_policy
        .as_ref()
        .map(|p| p.rules.as_slice())
        .unwrap_or_default();
    let rules_path = format!("{path}.podFailurePolicy.rules");
    let mut errors = Vec::new();
    if rules.len() > MAX_RULES {
        errors.push(too_many(&rules_path, rules.len(), MAX_RULES));
    }
    let pod_spec = spec.template.spec.as_ref();
    let containers: Vec<&str> = pod_spec
        .into_iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .map(|c| c.name.as_str())
        .collect();
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("{rules_path}[{i}]");
        errors.extend(pod_failure_rule(&at, spec, rule, &containers));
    }
    errors
}

fn pod_failure_rule(
    at: &str,
    spec: &JobSpec,
    rule: &PodFailurePolicyRule,
    containers: &[&str],
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let action_path = format!("{at}.action");
    match rule.action.as_str() {
        "" => errors.push(FieldError::required(
            &action_path,
            &format!("valid values: {}", quoted(ACTIONS)),
        )),
        "FailIndex" if spec.backoff_limit_per_index.is_none() => errors.push(FieldError::invalid(
            &action_path,
            "FailIndex",
            "requires the backoffLimitPerIndex to be set",
        )),
        action if !ACTIONS.contains(&action) => {
            errors.push(FieldError::unsupported(&action_path, action, ACTIONS))
        }
        _ => {}
    }
    let patterns = rule.on_pod_conditions.as_deref().unwrap_or_default();
    if let Some(codes) = &rule.on_exit_codes {
        let path = format!("{at}.onExitCodes");
        let operator_path = format!("{path}.operator");
        match codes.operator.as_str() {
            "" => errors.push(FieldError::required(
                &operator_path,
                &format!("valid values: {}", quoted(&["In", "NotIn"])),
            )),
            "In" | "NotIn" => {}
            other => errors.push(FieldError::unsupported(
                &operator_path,
                other,
                &["In", "NotIn"],
            )),
        }
        if let Some(name) = codes
            .container_name
            .as_deref()
            .filter(|n| !containers.contains(n))
        {
            errors.push(FieldError::invalid(
                &format!("{path}.containerName"),
                name,
                "must be one of the container or initContainer names in the pod template",
            ));
        }
        errors.extend(exit_codes(&path, &codes.operator, &codes.values));
    }
    for (j, pattern) in patterns.iter().enumerate() {
        let pattern_path = format!("{at}.onPodConditions[{j}]");
        errors.extend(validate_qualified_name(
            &format!("{pattern_path}.type"),
            &pattern.type_,
        ));
        let status_path = format!("{pattern_path}.status");
        let statuses = ["False", "True", "Unknown"];
        match pattern.status.as_str() {
            "" => errors.push(FieldError::required(
                &status_path,
                &format!("valid values: {}", quoted(&statuses)),
            )),
            s if !statuses.contains(&s) => {
                errors.push(FieldError::unsupported(&status_path, s, &statuses))
            }
            _ => {}
        }
    }
    if patterns.len() > MAX_CONDITION_PATTERNS {
        errors.push(too_many(
            &format!("{at}.onPodConditions"),
            patterns.len(),
            MAX_CONDITION_PATTERNS,
        ));
    }
    let none = "specifying one of OnExitCodes and OnPodConditions is required";
    let both = "specifying both OnExitCodes and OnPodConditions is not supported";
    match (rule.on_exit_codes.is_some(), !patterns.is_empty()) {
        (true, true) => errors.push(FieldError::new(at, format!("Invalid value: {both}"))),
        (false, false) => errors.push(FieldError::new(at, format!("Invalid value: {none}"))),
        _ => {}
    }
    errors
}

fn exit_codes(path: &str, operator: &str, values: &[i32]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let values_path = format!("{path}.values");
    if values.is_empty() {
        errors.push(FieldError::invalid(
            &values_path,
            serde_json::json!([]),
            "at least one value is required",
        ));
    } else if values.len() > MAX_EXIT_CODES {
        errors.push(too_many(&values_path, values.len(), MAX_EXIT_CODES));
    }
    for (j, value) in values.iter().enumerate() {
        let value_path = format!("{values_path}[{j}]");
        if operator == "In" && *value == 0 {
            errors.push(FieldError::invalid(
                &value_path,
                0,
                "must not be 0 for the In operator",
            ));
        }
        if values[..j].contains(value) {
            errors.push(FieldError::duplicate(&value_path, *value));
        }
    }
    if values.windows(2).any(|w| w[0] > w[1]) {
        errors.push(FieldError::invalid(
            &values_path,
            serde_json::to_value(values).unwrap_or_default(),
            "must be ordered",
        ));
    }
    errors
}

fn quoted(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(" "))
}
