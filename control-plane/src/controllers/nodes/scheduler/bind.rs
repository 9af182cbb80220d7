//! The scheduler's writes: a binding, or the record of why a pod stays Pending. Both are
//! compare-and-swap writes on the revision the pass decided on, so a pod that changed
//! meanwhile is decided again rather than bound on stale facts.

use k8s_openapi::api::core::v1::Pod;

use super::{key_of, revision_of, Outcome};
use crate::controllers::nodes::NodeContext;
use crate::core::events::{self, SCHEDULER};
use crate::core::objects::{modify, pod_node, set_pod_condition, Modified};
use crate::core::Error;

/// Binds `pod` (as the pass read it) to `node`: sets `spec.nodeName` and PodScheduled=True.
/// `None` when the pod changed since the pass read it.
pub async fn bind(ctx: &NodeContext, pod: &Pod, node: &str) -> Result<Option<Pod>, Error> {
    let key = key_of(pod);
    let read = revision_of(pod);
    let now = ctx.clock.now();
    let written = modify::<Pod, _>(
        ctx.cp.store.as_ref(),
        &key,
        pod.metadata.uid.as_deref(),
        |current| {
            if revision_of(current) != read || pod_node(current).is_some() {
                return Ok(false);
            }
            current.spec.get_or_insert_with(Default::default).node_name = Some(node.to_string());
            set_pod_condition(current, "PodScheduled", "True", None, None, now);
            Ok(true)
        },
    )
    .await?;
    let Modified::Written(bound) = written else {
        return Ok(None);
    };
    tracing::info!(pod = %key, node, "pod bound");
    let meta = &bound.metadata;
    let message = format!(
        "Successfully assigned {}/{} to {node}",
        key.namespace, key.name
    );
    let involved = events::reference(
        "Pod",
        &key.namespace,
        &key.name,
        meta.uid.as_deref().unwrap_or_default(),
    );
    events::record_or_warn(ctx, involved, "Normal", "Scheduled", &message, SCHEDULER).await;
    Ok(Some(bound))
}

/// Leaves `pod` Pending with PodScheduled=False (Unschedulable, `message`) and counts a
/// FailedScheduling event.
pub async fn mark_unschedulable(
    ctx: &NodeContext,
    pod: &Pod,
    message: &str,
) -> Result<Outcome, Error> {
    let key = key_of(pod);
    let read = revision_of(pod);
    let now = ctx.clock.now();
    let written = modify::<Pod, _>(
        ctx.cp.store.as_ref(),
        &key,
        pod.metadata.uid.as_deref(),
        |current| {
            if revision_of(current) != read || pod_node(current).is_some() {
                return Ok(false);
            }
            let status = current.status.get_or_insert_with(Default::default);
            let phase_missing = status.phase.is_none();
            status.phase.get_or_insert_with(|| "Pending".into());
            let changed = set_pod_condition(
                current,
                "PodScheduled",
                "False",
                Some("Unschedulable"),
                Some(message),
                now,
            );
            Ok(changed || phase_missing)
        },
    )
    .await?;
    let revision = match &written {
        Modified::Written(p) => revision_of(p),
        Modified::Unchanged(p) if revision_of(p) == read => read,
        _ => return Ok(Outcome::Stale),
    };
    tracing::info!(pod = %key, reason = message, "pod unschedulable");
    let involved = events::reference(
        "Pod",
        &key.namespace,
        &key.name,
        pod.metadata.uid.as_deref().unwrap_or_default(),
    );
    events::record_or_warn(
        ctx,
        involved,
        "Warning",
        "FailedScheduling",
        message,
        SCHEDULER,
    )
    .await;
    Ok(Outcome::Unschedulable {
        revision,
        message: message.to_string(),
    })
}
