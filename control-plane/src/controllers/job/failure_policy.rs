//! podFailurePolicy: the first rule that matches a failed pod decides what its failure
//! means (Kubernetes' matchPodFailurePolicy). A rule matches on a terminated
//! container's non-zero exit code (`onExitCodes`, containers before init containers) or
//! on a pod condition (`onPodConditions`, e.g. the `DisruptionTarget` an eviction sets).

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Counts toward backoffLimit (no rule matched, or a Count rule).
    Count,
    /// Does not count (an Ignore rule).
    Ignore,
    /// Fails the whole Job at once, with this message.
    FailJob(String),
    /// Counts, and fails the pod's index for good (backoffLimitPerIndex).
    FailIndex,
}

/// What the failed `pod` means under `policy`.
pub fn judge(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Verdict {
    let Some(policy) = policy else {
        return Verdict::Count;
    };
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let status = pod.status.as_ref();
    for (index, rule) in policy.rules.iter().enumerate() {
        let what = if let Some(requirement) = &rule.on_exit_codes {
            let statuses = status
                .and_then(|s| s.container_statuses.as_ref())
                .into_iter()
                .flatten()
                .chain(
                    status
                        .and_then(|s| s.init_container_statuses.as_ref())
                        .into_iter()
                        .flatten(),
                );
            statuses
                .filter_map(|c| Some((c, exit_code(c)?)))
                .find(|(c, code)| exit_code_matches(requirement, c, *code))
                .map(|(c, code)| {
                    format!(
                        "Container {} for pod {namespace}/{name} failed with exit code {code}",
                        c.name
                    )
                })
        } else {
            let conditions = status.and_then(|s| s.conditions.as_ref());
            let patterns = rule.on_pod_conditions.as_deref().unwrap_or_default();
            conditions
                .into_iter()
                .flatten()
                .find(|c| {
                    patterns
                        .iter()
                        .any(|p| p.type_ == c.type_ && p.status == c.status)
                })
                .map(|c| format!("Pod {namespace}/{name} has condition {}", c.type_))
        };
        let Some(what) = what else {
            continue;
        };
        return match rule.action.as_str() {
            "Ignore" => Verdict::Ignore,
            "FailJob" => Verdict::FailJob(format!("{what} matching FailJob rule at index {index}")),
            "FailIndex" => Verdict::FailIndex,
            _ => Verdict::Count,
        };
    }
    Verdict::Count
}

fn exit_code(container: &ContainerStatus) -> Option<i32> {
    let code = container.state.as_ref()?.terminated.as_ref()?.exit_code;
    (code != 0).then_some(code)
}

fn exit_code_matches(
    requirement: &PodFailurePolicyOnExitCodesRequirement,
    container: &ContainerStatus,
    code: i32,
) -> bool {
    if requirement
        .container_name
        .as_ref()
        .is_some_and(|n| *n != container.name)
    {
        return false;
    }
    let listed = requirement.values.contains(&code);
    match requirement.operator.as_str() {
        "In" => listed,
        "NotIn" => !listed,
        _ => false,
    }
}
