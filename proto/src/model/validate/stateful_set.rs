//! A StatefulSet's policies as kube-apiserver checks them (`ValidateStatefulSetSpec`):
//! the pod management and update strategy names, partition, retention policy, ordinals.

use k8s_openapi::api::apps::v1::StatefulSetSpec;

use super::workloads::non_negative;
use super::FieldError;

fn one_of(errors: &mut Vec<FieldError>, path: &str, value: Option<&str>, supported: &[&str]) {
    if let Some(value) = value.filter(|v| !supported.contains(v)) {
        errors.push(FieldError::unsupported(path, value, supported));
    }
}

pub(super) fn validate_policies(spec: &StatefulSetSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    one_of(
        &mut errors,
        "spec.podManagementPolicy",
        spec.pod_management_policy.as_deref(),
        &["OrderedReady", "Parallel"],
    );
    if let Some(strategy) = &spec.update_strategy {
        let type_ = strategy.type_.as_deref();
        one_of(
            &mut errors,
            "spec.updateStrategy.type",
            type_,
            &["RollingUpdate", "OnDelete"],
        );
        if let Some(rolling) = &strategy.rolling_update {
            if type_ == Some("OnDelete") {
                errors.push(FieldError::invalid(
                    "spec.updateStrategy.rollingUpdate",
                    serde_json::to_value(rolling).unwrap_or_default(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
            non_negative(
                &mut errors,
                "spec.updateStrategy.rollingUpdate.partition",
                rolling.partition,
            );
        }
    }
    if let Some(policy) = &spec.persistent_volume_claim_retention_policy {
        for (field, value) in [
            ("whenDeleted", &policy.when_deleted),
            ("whenScaled", &policy.when_scaled),
        ] {
            one_of(
                &mut errors,
                &format!("spec.persistentVolumeClaimRetentionPolicy.{field}"),
                value.as_deref(),
                &["Retain", "Delete"],
            );
        }
    }
    non_negative(&mut errors, "spec.minReadySeconds", spec.min_ready_seconds);
    non_negative(
        &mut errors,
        "spec.ordinals.start",
        spec.ordinals.as_ref().and_then(|o| o.start),
    );
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_policies_and_negative_numbers_are_named_by_their_field() {
        let spec: StatefulSetSpec = serde_json::from_value(serde_json::json!({
            "selector": {},
            "template": {},
            "podManagementPolicy": "Sometimes",
            "updateStrategy": {"type": "OnDelete", "rollingUpdate": {"partition": -1}},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Keep", "whenScaled": "Delete"},
            "minReadySeconds": -5,
        }))
        .unwrap();
        let errors: Vec<String> = validate_policies(&spec)
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        assert_eq!(
            errors,
            [
                "spec.podManagementPolicy: Unsupported value: \"Sometimes\": supported values: \"OrderedReady\", \"Parallel\"",
                "spec.updateStrategy.rollingUpdate: Invalid value: {\"partition\":-1}: only allowed for updateStrategy 'RollingUpdate'",
                "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0",
                "spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: \"Keep\": supported values: \"Retain\", \"Delete\"",
                "spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0",
            ]
        );
    }
}
