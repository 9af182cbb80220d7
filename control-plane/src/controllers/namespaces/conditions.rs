//! A terminating namespace's conditions, with the types, reasons and messages of
//! Kubernetes' namespace controller, so `kubectl describe ns` and tools that read them
//! say why a namespace stays `Terminating`.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::NamespaceCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::content::Remaining;

/// The condition types the namespace controller keeps, in its order, with the reason
/// and message each has when all is well.
const OK: [(&str, &str, &str); 5] = [
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

/// The failing conditions `remaining` calls for: (type, reason, message).
fn failing(remaining: &Remaining) -> Vec<(&'static str, &'static str, String)> {
    let mut found = Vec::new();
    if !remaining.failures.is_empty() {
        let mut failures = remaining.failures.clone();
        failures.sort();
        found.push((
            "NamespaceDeletionContentFailure",
            "ContentDeletionFailed",
            format!(
                "Failed to delete all resource types, {} remaining: {}",
                failures.len(),
                failures.join(", ")
            ),
        ));
    }
    if !remaining.by_resource.is_empty() {
        let parts: Vec<String> = remaining
            .by_resource
            .iter()
            .map(|(resource, n)| format!("{resource} has {n} resource instances"))
            .collect();
        found.push((
            "NamespaceContentRemaining",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
        ));
    }
    if !remaining.by_finalizer.is_empty() {
        let parts: Vec<String> = remaining
            .by_finalizer
            .iter()
            .map(|(finalizer, n)| format!("{finalizer} in {n} resource instances"))
            .collect();
        found.push((
            "NamespaceFinalizersRemaining",
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                parts.join(", ")
            ),
        ));
    }
    found
}

/// Brings `conditions` up to date with `remaining` as Kubernetes' `updateConditions`
/// does: every type present, a transition time that moves only with the status. True
/// when anything changed.
pub fn update(
    conditions: &mut Vec<NamespaceCondition>,
    remaining: &Remaining,
    now: Timestamp,
) -> bool {
    let failing = failing(remaining);
    let mut changed = false;
    for (type_, ok_reason, ok_message) in OK {
        let (status, reason, message) = match failing.iter().find(|(t, _, _)| *t == type_) {
            Some((_, reason, message)) => ("True", *reason, message.clone()),
            None => ("False", ok_reason, ok_message.to_string()),
        };
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                conditions.push(NamespaceCondition {
                    type_: type_.into(),
                    status: status.into(),
                    reason: Some(reason.into()),
                    message: Some(message),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(old) => {
                if old.status == status
                    && old.reason.as_deref() == Some(reason)
                    && old.message.as_deref() == Some(message.as_str())
                {
                    continue;
                }
                if old.status != status {
                    old.last_transition_time = Some(Time(now));
                }
                old.status = status.into();
                old.reason = Some(reason.into());
                old.message = Some(message);
                changed = true;
            }
        }
    }
    changed
}
