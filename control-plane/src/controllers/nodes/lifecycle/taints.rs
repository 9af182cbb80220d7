//! Taint eviction of the NoExecute taints users put on a node (`skiff taint nodes N
//! k=v:NoExecute`), as Kubernetes' taint eviction controller does: a pod that does not
//! tolerate one of them is deleted at once, one that tolerates them all with
//! tolerationSeconds once the shortest has run out since the taint's `timeAdded`, one
//! that tolerates them without tolerationSeconds stays. Mirror pods stay (their node
//! would only bring them back); finished pods hold nothing and stay for their owners.
//!
//! The not-ready and unreachable taints follow the node's Ready condition instead
//! (`super::handle_pods`), with the eviction delay and safeguards of `mod.rs`.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};

use super::evict;
use crate::controllers::nodes::NodeContext;
use crate::core::objects::pod_is_terminal;
use crate::core::Error;

/// The user's NoExecute taints of `node`.
fn no_execute(node: &Node) -> Vec<&Taint> {
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_ref());
    taints
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoExecute")
        .filter(|t| t.key != evict::NOT_READY && t.key != evict::UNREACHABLE)
        .collect()
}

/// When `pod` is due for eviction from a node with `taints`; `None`: never. A taint
/// without `timeAdded` (written by hand) counts from `started`, this controller's start.
pub fn due(pod: &Pod, taints: &[&Taint], started: Timestamp) -> Option<Timestamp> {
    if evict::is_mirror(pod) || pod_is_terminal(pod) {
        return None;
    }
    taints
        .iter()
        .filter_map(|taint| {
            let delay = evict::toleration_delay(pod, taint, Duration::ZERO)?;
            let added = taint.time_added.as_ref().map_or(started, |t| t.0);
            let delay = jiff::SignedDuration::try_from(delay).ok()?;
            added.checked_add(delay).ok()
        })
        .min()
}

/// Evicts the pods of `node` whose toleration of its NoExecute taints is over.
pub async fn evict_untolerated(
    ctx: &NodeContext,
    node: &Node,
    pods: &[Pod],
    started: Timestamp,
) -> Result<(), Error> {
    let taints = no_execute(node);
    if taints.is_empty() {
        return Ok(());
    }
    let now = ctx.clock.now();
    for pod in pods {
        let Some(due) = due(pod, &taints, started) else {
            continue;
        };
        if now >= due {
            evict::evict(ctx, pod).await?;
        }
    }
    Ok(())
}
