//! What may change in a Job once created, as kube-apiserver's Job update validation.

use k8s_openapi::api::batch::v1::Job;
use serde_json::Value;

use super::super::FieldError;
use super::indexed;

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
