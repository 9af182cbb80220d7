//! Jobs as kube-apiserver checks them: the selector it generated at creation (unless
//! `manualSelector`, see `model/job_selector.rs`), completion modes, podFailurePolicy and
//! restartPolicy; and on update, which parts of the spec may still change.

use k8s_openapi::api::batch::v1::{Job, JobSpec, PodFailurePolicyRule};
use serde_json::Value;

use super::workloads::{selects_template, validate_template};
use super::{is_dns1123_label, validate_qualified_name, FieldError};
use crate::model::job_selector::{generated_job_labels, manual_selector};
use crate::model::selector::selector_matches;

/// Indexed Jobs may run at most this many pods at once (it bounds completedIndexes).
const MAX_INDEXED_PARALLELISM: i32 = 100_000;
const MAX_RULES: usize = 20;
const MAX_EXIT_CODES: usize = 255;
const MAX_CONDITION_PATTERNS: usize = 20;
const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];

pub(super) fn validate_job(job: &Job) -> Vec<FieldError> {
    let Some(spec) = &job.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errors = generated_selector(job);
    errors.extend(validate_job_spec("spec", spec));
    match &spec.selector {
        // Without manualSelector the API server generates one at creation.
        None if manual_selector(job) => errors.push(FieldError::required("spec.selector", "")),
        None => {}
        Some(selector) => errors.extend(selects_template(selector, Some(&spec.template))),
    }
    // Pods of an Indexed Job are named and hostnamed `<job>-<index>`.
    let name = job.metadata.name.as_deref().unwrap_or_default();
    if let Some(completions) = spec.completions.filter(|c| *c > 0 && indexed(spec)) {
        let hostname = format!("{name}-{}", completions - 1);
        if !name.is_empty() && !is_dns1123_label(&hostname) {
            errors.push(FieldError::invalid(
                "metadata.name",
                name,
                format!("will not able to create pod with invalid DNS label: {hostname}"),
            ));
        }
    }
    errors
}

/// Unless the selector is manual: the template carries the generated labels and the
/// selector selects them.
fn generated_selector(job: &Job) -> Vec<FieldError> {
    let spec = job.spec.as_ref();
    let Some(selector) = spec.and_then(|s| s.selector.as_ref()) else {
        return Vec::new();
    };
    if manual_selector(job) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    let expected = generated_job_labels(job);
    let labels = spec
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    for (key, value) in &expected {
        let path = format!("spec.template.metadata.labels[{key}]");
        let detail = format!("must be '{value}'");
        match labels.get(key) {
            None => errors.push(FieldError::required(&path, &detail)),
            Some(actual) if actual != value => errors.push(FieldError::invalid(
                &path,
                serde_json::to_value(&labels).unwrap_or_default(),
                detail,
            )),
            Some(_) => {}
        }
    }
    if !selector_matches(selector, &expected) {
        errors.push(FieldError::invalid(
            "spec.selector",
            serde_json::to_value(selector).unwrap_or_default(),
            "`selector` not auto-generated",
        ));
    }
    errors
}

fn indexed(spec: &JobSpec) -> bool {
    spec.completion_mode.as_deref() == Some("Indexed")
}

fn non_negative(errors: &mut Vec<FieldError>, path: String, value: Option<i64>) {
    if let Some(value) = value.filter(|v| *v < 0) {
        errors.push(FieldError::invalid(
            &path,
            value,
            "must be greater than or equal to 0",
        ));
    }
}

/// A Job's spec, or a CronJob's job template's (no selector there).
pub(super) fn validate_job_spec(path: &str, spec: &JobSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let at = |field: &str| format!("{path}.{field}");
    for (field, value) in [
        ("parallelism", spec.parallelism.map(i64::from)),
        ("completions", spec.completions.map(i64::from)),
        ("activeDeadlineSeconds", spec.active_deadline_seconds),
        ("backoffLimit", spec.backoff_limit.map(i64::from)),
        (
            "ttlSecondsAfterFinished",
            spec.ttl_seconds_after_finished.map(i64::from),
        ),
        (
            "backoffLimitPerIndex",
            spec.backoff_limit_per_index.map(i64::from),
        ),
        ("maxFailedIndexes", spec.max_failed_indexes.map(i64::from)),
    ] {
        non_negative(&mut errors, at(field), value);
    }
    if spec.max_failed_indexes.is_some() && spec.backoff_limit_per_index.is_none() {
        errors.push(FieldError::required(
            &at("backoffLimitPerIndex"),
            "when maxFailedIndexes is specified",
        ));
    }
    match spec.completion_mode.as_deref() {
        None | Some("NonIndexed") => {
            for (field, value) in [
                ("backoffLimitPerIndex", spec.backoff_limit_per_index),
                ("maxFailedIndexes", spec.max_failed_indexes),
            ] {
                if let Some(value) = value {
                    errors.push(FieldError::invalid(
                        &at(field),
                        value,
                        "requires indexed completion mode",
                    ));
                }
            }
        }
        Some("Indexed") => errors.extend(indexed_spec(path, spec)),
        Some(other) => errors.push(FieldError::unsupported(
            &at("completionMode"),
            other,
            &["NonIndexed", "Indexed"],
        )),
    }
    if spec.pod_failure_policy.is_some() {
        errors.extend(pod_failure_policy(path, spec));
    }
    if let Some(policy) = spec.pod_replacement_policy.as_deref() {
        let allowed: &[&str] = match spec.pod_failure_policy {
            Some(_) => &["Failed"],
            None => &["Failed", "TerminatingOrFailed"],
        };
        if !allowed.contains(&policy) {
            errors.push(FieldError::unsupported(
                &at("podReplacementPolicy"),
                policy,
                allowed,
            ));
        }
    }
    errors.extend(validate_template(
        &at("template"),
        Some(&spec.template),
        &["OnFailure", "Never"],
    ));
    let restart_policy = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref());
    if let Some(policy) = restart_policy.filter(|p| *p == "OnFailure") {
        if spec.pod_failure_policy.is_some() {
            errors.push(FieldError::invalid(
                &at("template.spec.restartPolicy"),
                policy,
                "only \"Never\" is supported when podFailurePolicy is specified",
            ));
        }
    }
    errors
}

fn indexed_spec(path: &str, spec: &JobSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if spec.completions.is_none() {
        errors.push(FieldError::required(
            &format!("{path}.completions"),
            "when completion mode is Indexed",
        ));
    }
    if let Some(parallelism) = spec.parallelism.filter(|p| *p > MAX_INDEXED_PARALLELISM) {
        errors.push(FieldError::invalid(
            &format!("{path}.parallelism"),
            parallelism,
            format!(
                "must be less than or equal to {MAX_INDEXED_PARALLELISM} when completion mode is Indexed"
            ),
        ));
    }
    if let (Some(max), Some(completions)) = (spec.max_failed_indexes, spec.completions) {
        if max > completions {
            errors.push(FieldError::invalid(
                &format!("{path}.maxFailedIndexes"),
                max,
                "must be less than or equal to completions",
            ));
        }
    }
    errors
}

fn too_many(path: &str, actual: usize, max: usize) -> FieldError {
    FieldError::new(
        path,
        format!("Too many: {actual}: must have at most {max} items"),
    )
}

fn pod_failure_policy(path: &str, spec: &JobSpec) -> Vec<FieldError> {
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

/// The update rules of a Job (stored `old`, defaulted `new`, as JSON): selector,
/// completionMode, podFailurePolicy and the like never change; completions only for an
/// Indexed Job and together with parallelism; the template only in its scheduling
/// directives, and only while the Job is suspended and has never started.
pub fn validate_job_update(kind: &str, old: &Value, new: &Value) -> Vec<FieldError> {
    if kind != "Job" {
        return Vec::new();
    }
    let (Ok(old), Ok(new)) = (
        serde_json::from_value::<Job>(old.clone()),
        serde_json::from_value::<Job>(new.clone()),
    ) else {
        return Vec::new();
    };
    let (Some(old_spec), Some(spec)) = (&old.spec, &new.spec) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    immutable(
        &mut errors,
        "spec.selector",
        &spec.selector,
        &old_spec.selector,
    );
    immutable(
        &mut errors,
        "spec.completionMode",
        &spec.completion_mode,
        &old_spec.completion_mode,
    );
    immutable(
        &mut errors,
        "spec.podFailurePolicy",
        &spec.pod_failure_policy,
        &old_spec.pod_failure_policy,
    );
    immutable(
        &mut errors,
        "spec.backoffLimitPerIndex",
        &spec.backoff_limit_per_index,
        &old_spec.backoff_limit_per_index,
    );
    immutable(
        &mut errors,
        "spec.managedBy",
        &spec.managed_by,
        &old_spec.managed_by,
    );
    immutable(
        &mut errors,
        "spec.successPolicy",
        &spec.success_policy,
        &old_spec.success_policy,
    );
    let never_started = old
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .is_none();
    let mut old_template = old_spec.template.clone();
    if old_spec.suspend == Some(true) && never_started {
        let new_template = &spec.template;
        let scheduling = new_template.spec.clone().unwrap_or_default();
        let meta = new_template.metadata.clone().unwrap_or_default();
        let old_meta = old_template.metadata.get_or_insert_with(Default::default);
        old_meta.labels = meta.labels;
        old_meta.annotations = meta.annotations;
        let old_pod = old_template.spec.get_or_insert_with(Default::default);
        old_pod.node_selector = scheduling.node_selector;
        old_pod.tolerations = scheduling.tolerations;
        old_pod.scheduling_gates = scheduling.scheduling_gates;
        old_pod.affinity = match (scheduling.affinity, old_pod.affinity.take()) {
            (None, Some(mut was)) => {
                was.node_affinity = None;
                Some(was).filter(|a| *a != Default::default())
            }
            (Some(now), None) => Some(k8s_openapi::api::core::v1::Affinity {
                node_affinity: now.node_affinity,
                ..Default::default()
            }),
            (Some(now), Some(mut was)) => {
                was.node_affinity = now.node_affinity;
                Some(was)
            }
            (None, None) => None,
        };
    }
    immutable(&mut errors, "spec.template", &spec.template, &old_template);
    if !indexed(spec) {
        immutable(
            &mut errors,
            "spec.completions",
            &spec.completions,
            &old_spec.completions,
        );
    } else if spec.completions != old_spec.completions
        && spec.completions.is_some()
        && spec.completions != spec.parallelism
    {
        errors.push(FieldError::invalid(
            "spec.completions",
            spec.completions,
            "can only be modified in tandem with spec.parallelism",
        ));
    }
    errors
}

/// `Invalid value: <new>: field is immutable` when `new` differs from `old`.
fn immutable<T: PartialEq + serde::Serialize>(
    errors: &mut Vec<FieldError>,
    path: &str,
    new: &T,
    old: &T,
) {
    if new != old {
        let value = serde_json::to_value(new).unwrap_or_default();
        errors.push(FieldError::invalid(path, value, "field is immutable"));
    }
}

#[cfg(test)]
mod tests;
