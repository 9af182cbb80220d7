//! Jobs as kube-apiserver checks them: the selector it generated at creation (unless
//! `manualSelector`, see `model/job_selector.rs`), completion modes, podFailurePolicy and
//! restartPolicy; and on update, which parts of the spec may still change.

use k8s_openapi::api::batch::v1::{Job, JobSpec};

use super::workloads::{selects_template, validate_template};
use super::{is_dns1123_label, FieldError};
use crate::model::job_selector::{generated_job_labels, manual_selector};
use crate::model::selector::selector_matches;

mod failure_policy;
mod update;

pub use update::validate_job_update;

/// Indexed Jobs may run at most this many pods at once (it bounds completedIndexes).
const MAX_INDEXED_PARALLELISM: i32 = 100_000;

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
        errors.extend(failure_policy::validate(path, spec));
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

#[cfg(test)]
mod tests;
