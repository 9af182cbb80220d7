//! Workloads (ReplicaSet, Deployment, DaemonSet, StatefulSet, Job, CronJob): their
//! selector must select their own template, or the controller would create pods it can
//! never count and loop forever; the template must be a valid pod spec.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use std::collections::HashSet;

use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::jobs::validate_job_spec;
use super::{
    validate_labels, validate_pod_spec, validate_qualified_name, validate_template_meta, FieldError,
};
use crate::model::selector::{selector_is_empty, selector_matches};

/// Validates a LabelSelector's keys, values and operators.
pub fn validate_label_selector(path: &str, selector: &LabelSelector) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(labels) = &selector.match_labels {
        errors.extend(validate_labels(&format!("{path}.matchLabels"), labels));
    }
    for (i, requirement) in selector.match_expressions.iter().flatten().enumerate() {
        let at = format!("{path}.matchExpressions[{i}]");
        let has_values = requirement.values.as_ref().is_some_and(|v| !v.is_empty());
        match requirement.operator.as_str() {
            "In" | "NotIn" if !has_values => errors.push(FieldError::required(
                &format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if has_values => errors.push(FieldError::forbidden(
                &format!("{at}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errors.push(FieldError::invalid(
                &format!("{at}.operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errors.extend(validate_qualified_name(
            &format!("{at}.key"),
            &requirement.key,
        ));
    }
    errors
}

/// A non-empty, valid selector that selects the template's labels, and a valid template
/// whose restartPolicy is one of `restart_policies`.
fn validate_selected_template(
    kind: &str,
    selector: Option<&LabelSelector>,
    template: Option<&PodTemplateSpec>,
    restart_policies: &[&str],
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match selector {
        None => errors.push(FieldError::required("spec.selector", "")),
        Some(selector) if selector_is_empty(selector) => errors.push(FieldError::invalid(
            "spec.selector",
            serde_json::json!({}),
            format!("empty selector is invalid for {kind}"),
        )),
        Some(selector) => errors.extend(selects_template(selector, template)),
    }
    errors.extend(validate_template(
        "spec.template",
        template,
        restart_policies,
    ));
    errors
}

/// A valid `spec.selector` that selects `spec.template`'s labels.
pub(super) fn selects_template(
    selector: &LabelSelector,
    template: Option<&PodTemplateSpec>,
) -> Vec<FieldError> {
    let mut errors = validate_label_selector("spec.selector", selector);
    let labels = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if !selector_matches(selector, &labels) {
        errors.push(FieldError::invalid(
            "spec.template.metadata.labels",
            serde_json::to_value(&labels).unwrap_or_default(),
            "`selector` does not match template `labels`",
        ));
    }
    errors
}

/// A pod template: labels/annotations, a valid pod spec and an allowed restartPolicy.
pub(super) fn validate_template(
    path: &str,
    template: Option<&PodTemplateSpec>,
    restart_policies: &[&str],
) -> Vec<FieldError> {
    let Some(spec) = template.and_then(|t| t.spec.as_ref()) else {
        return vec![FieldError::required(&format!("{path}.spec"), "")];
    };
    let mut errors = Vec::new();
    if let Some(meta) = template.and_then(|t| t.metadata.as_ref()) {
        errors.extend(validate_template_meta(&format!("{path}.metadata"), meta));
    }
    let spec_path = format!("{path}.spec");
    // validate_pod_spec already refused policies no pod may have.
    errors.extend(validate_pod_spec(&spec_path, spec));
    let restart_path = format!("{spec_path}.restartPolicy");
    match spec.restart_policy.as_deref() {
        Some(policy)
            if !restart_policies.contains(&policy)
                && ["Always", "OnFailure", "Never"].contains(&policy) =>
        {
            errors.push(FieldError::unsupported(
                &restart_path,
                policy,
                restart_policies,
            ));
        }
        // Left unset, defaulting makes it Always, which is only right for some kinds.
        None if !restart_policies.contains(&"Always") => errors.push(FieldError::required(
            &restart_path,
            &format!("valid values: {}", restart_policies.join(", ")),
        )),
        _ => {}
    }
    errors
}

pub(super) fn non_negative(errors: &mut Vec<FieldError>, path: &str, value: Option<i32>) {
    if let Some(value) = value.filter(|v| *v < 0) {
        errors.push(FieldError::invalid(
            path,
            value,
            "must be greater than or equal to 0",
        ));
    }
}

pub(super) fn validate_replica_set(rs: &ReplicaSet) -> Vec<FieldError> {
    let Some(spec) = &rs.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errors = Vec::new();
    non_negative(&mut errors, "spec.replicas", spec.replicas);
    non_negative(&mut errors, "spec.minReadySeconds", spec.min_ready_seconds);
    errors.extend(validate_selected_template(
        "replicaset",
        Some(&spec.selector),
        spec.template.as_ref(),
        &["Always"],
    ));
    errors
}

pub(super) fn validate_deployment(deployment: &Deployment) -> Vec<FieldError> {
    let Some(spec) = &deployment.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errors = Vec::new();
    non_negative(&mut errors, "spec.replicas", spec.replicas);
    non_negative(&mut errors, "spec.minReadySeconds", spec.min_ready_seconds);
    non_negative(
        &mut errors,
        "spec.revisionHistoryLimit",
        spec.revision_history_limit,
    );
    if let Some(strategy) = &spec.strategy {
        match strategy.type_.as_deref() {
            None | Some("RollingUpdate") => {
                if let Some(rolling) = &strategy.rolling_update {
                    check_surge_and_unavailable(
                        &mut errors,
                        "spec.strategy.rollingUpdate",
                        rolling.max_surge.as_ref(),
                        rolling.max_unavailable.as_ref(),
                    );
                }
            }
            Some("Recreate") if strategy.rolling_update.is_some() => {
                errors.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ))
            }
            Some("Recreate") => {}
            Some(other) => errors.push(FieldError::unsupported(
                "spec.strategy.type",
                other,
                &["Recreate", "RollingUpdate"],
            )),
        }
    }
    errors.extend(validate_selected_template(
        "deployment",
        Some(&spec.selector),
        Some(&spec.template),
        &["Always"],
    ));
    errors
}

/// A rolling update's maxSurge and maxUnavailable under `path`: each an int or percent,
/// and not both 0 (the rollout could never move).
fn check_surge_and_unavailable(
    errors: &mut Vec<FieldError>,
    path: &str,
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
) {
    let surge = check_int_or_percent(errors, &format!("{path}.maxSurge"), surge);
    let unavailable = check_int_or_percent(errors, &format!("{path}.maxUnavailable"), unavailable);
    if surge == Some(0) && unavailable == Some(0) {
        errors.push(FieldError::invalid(
            &format!("{path}.maxUnavailable"),
            0,
            "may not be 0 when `maxSurge` is 0",
        ));
    }
}

/// Checks an int-or-percent ("25%") field; returns its number (percent or count) if valid.
fn check_int_or_percent(
    errors: &mut Vec<FieldError>,
    path: &str,
    value: Option<&IntOrString>,
) -> Option<i32> {
    let (number, shown) = match value? {
        IntOrString::Int(n) => (Some(*n), serde_json::Value::from(*n)),
        IntOrString::String(s) => (
            s.strip_suffix('%').and_then(|n| n.parse().ok()),
            serde_json::Value::from(s.as_str()),
        ),
    };
    match number {
        None => errors.push(FieldError::invalid(path, shown, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")),
        Some(n) if n < 0 => errors.push(FieldError::invalid(path, shown, "must be greater than or equal to 0")),
        Some(_) => {}
    }
    number
}

pub(super) fn validate_daemon_set(ds: &DaemonSet) -> Vec<FieldError> {
    let Some(spec) = &ds.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errors = Vec::new();
    non_negative(&mut errors, "spec.minReadySeconds", spec.min_ready_seconds);
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    match strategy.type_.as_deref() {
        None | Some("RollingUpdate") => {
            if let Some(rolling) = &strategy.rolling_update {
                check_surge_and_unavailable(
                    &mut errors,
                    "spec.updateStrategy.rollingUpdate",
                    rolling.max_surge.as_ref(),
                    rolling.max_unavailable.as_ref(),
                );
            }
        }
        Some("OnDelete") => {}
        Some(other) => errors.push(FieldError::unsupported(
            "spec.updateStrategy.type",
            other,
            &["OnDelete", "RollingUpdate"],
        )),
    }
    errors.extend(validate_selected_template(
        "daemonset",
        Some(&spec.selector),
        Some(&spec.template),
        &["Always"],
    ));
    errors
}

pub(super) fn validate_stateful_set(sts: &StatefulSet) -> Vec<FieldError> {
    let Some(spec) = &sts.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errors = Vec::new();
    non_negative(&mut errors, "spec.replicas", spec.replicas);
    errors.extend(super::stateful_set::validate_policies(spec));
    // Each claim template becomes a volume of that name in every pod (as the StatefulSet
    // controller adds them), so mounts may name it.
    let mut template = spec.template.clone();
    let mut claim_names = HashSet::new();
    for (i, claim) in spec.volume_claim_templates.iter().flatten().enumerate() {
        let at = format!("spec.volumeClaimTemplates[{i}].metadata.name");
        let name = claim.metadata.name.clone().unwrap_or_default();
        if name.is_empty() {
            errors.push(FieldError::required(&at, ""));
            continue;
        }
        if !claim_names.insert(name.clone()) {
            errors.push(FieldError::duplicate(&at, name.as_str()));
            continue;
        }
        let volumes = template
            .spec
            .get_or_insert_with(Default::default)
            .volumes
            .get_or_insert_with(Vec::new);
        if !volumes.iter().any(|v| v.name == name) {
            volumes.push(Volume {
                name: name.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: name,
                    read_only: None,
                }),
                ..Default::default()
            });
        }
    }
    errors.extend(validate_selected_template(
        "statefulset",
        Some(&spec.selector),
        Some(&template),
        &["Always"],
    ));
    errors
}

pub(super) fn validate_cron_job(cron_job: &CronJob) -> Vec<FieldError> {
    let mut errors = Vec::new();
    // The controller appends an 11-character suffix to name its Jobs.
    if let Some(name) = cron_job.metadata.name.as_deref().filter(|n| n.len() > 52) {
        errors.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be no more than 52 characters",
        ));
    }
    let Some(spec) = &cron_job.spec else {
        errors.push(FieldError::required("spec", ""));
        return errors;
    };
    errors.extend(super::cron_job::validate_timing(spec));
    errors.extend(super::cron_job::validate_template_selector(spec));
    if let Some(policy) = spec.concurrency_policy.as_deref() {
        if !["Allow", "Forbid", "Replace"].contains(&policy) {
            errors.push(FieldError::unsupported(
                "spec.concurrencyPolicy",
                policy,
                &["Allow", "Forbid", "Replace"],
            ));
        }
    }
    match spec.job_template.spec.as_ref() {
        Some(job_spec) => errors.extend(validate_job_spec("spec.jobTemplate.spec", job_spec)),
        None => errors.push(FieldError::required("spec.jobTemplate.spec", "")),
    }
    errors
}
