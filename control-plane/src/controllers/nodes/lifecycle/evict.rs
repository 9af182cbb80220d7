//! What the lifecycle controller does to the pods of a node that is not Ready: marks
//! them not Ready, and deletes them once their toleration of the node's state runs out.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::controllers::nodes::scheduler::fit::tolerates;
use crate::controllers::nodes::NodeContext;
use crate::core::events;
use crate::core::objects::{is_being_deleted, modify, pod_is_terminal, pod_key, Modified};
use crate::core::Error;
use crate::resources::finalizers::{self, Pinned};
use crate::store::Key;

/// The NoExecute taints Kubernetes puts on a node whose Ready is Unknown / False.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";

const EVICTION_COMPONENT: &str = "taint-eviction-controller";

pub fn key_of(pod: &Pod) -> Key {
    pod_key(
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// How long `pod` stays on a node carrying `taint` before eviction; `None` = forever.
/// Without a toleration of its own a pod gets `default` (what Kubernetes' admission adds
/// as tolerationSeconds 300, here `--pod-eviction`).
pub fn eviction_delay(pod: &Pod, taint: &str, default: Duration) -> Option<Duration> {
    let daemon = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.kind == "DaemonSet");
    if daemon || is_mirror(pod) {
        return None;
    }
    let taint = Taint {
        key: taint.into(),
        effect: "NoExecute".into(),
        ..Default::default()
    };
    toleration_delay(pod, &taint, default)
}

/// How long `pod` tolerates the NoExecute `taint`: its toleration's tolerationSeconds,
/// forever (`None`) with a toleration that has none, `untolerated` without a toleration.
pub fn toleration_delay(pod: &Pod, taint: &Taint, untolerated: Duration) -> Option<Duration> {
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_ref());
    match tolerations
        .into_iter()
        .flatten()
        .find(|t| tolerates(t, taint))
    {
        Some(t) => t
            .toleration_seconds
            .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0))),
        None => Some(untolerated),
    }
}

/// A node's static pod as the API shows it: deleting it would only bring it back.
pub fn is_mirror(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
}

/// Ready=False on a running pod of a node that is not Ready (Kubernetes'
/// MarkPodsNotReady): the Endpoints controller then stops routing to it. The agent sets
/// it back if it turns out to be alive. Returns the pod as written, if it wrote.
pub async fn mark_not_ready(ctx: &NodeContext, pod: &Pod) -> Result<Option<Pod>, Error> {
    let is_ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if !is_ready || pod_is_terminal(pod) {
        return Ok(None);
    }
    let now = ctx.clock.now();
    let key = key_of(pod);
    let written = modify::<Pod, _>(
        ctx.cp.store.as_ref(),
        &key,
        pod.metadata.uid.as_deref(),
        |current| {
            let conditions = current.status.as_mut().and_then(|s| s.conditions.as_mut());
            let ready = conditions
                .into_iter()
                .flatten()
                .find(|c| c.type_ == "Ready" && c.status == "True");
            Ok(match ready {
                Some(c) => {
                    c.status = "False".into();
                    c.last_transition_time = Some(Time(now));
                    true
                }
                None => false,
            })
        },
    )
    .await?;
    Ok(match written {
        Modified::Written(pod) => Some(pod),
        _ => None,
    })
}

/// Deletes `pod` on the revision it was read at, through the one finalizer-aware delete
/// (a pod with finalizers is only marked); a pod that changed meanwhile is left for the
/// next pass to judge again, and one already being deleted is left alone.
pub async fn evict(ctx: &NodeContext, pod: &Pod) -> Result<(), Error> {
    if is_being_deleted(&pod.metadata) {
        return Ok(());
    }
    let key = key_of(pod);
    let pinned = Pinned {
        uid: pod.metadata.uid.as_deref(),
        revision: pod
            .metadata
            .resource_version
            .as_deref()
            .and_then(|r| r.parse().ok()),
    };
    let store = ctx.cp.store.as_ref();
    match finalizers::delete(store, ctx.clock.as_ref(), &key, None, pinned).await {
        Ok(deleted) if deleted.acted() => {}
        Ok(_) | Err(Error::Conflict(_) | Error::NotFound(_)) => return Ok(()),
        Err(err) => return Err(err),
    }
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    tracing::warn!(pod = %key, node = %node, "pod evicted");
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let involved = events::reference("Pod", &key.namespace, &key.name, uid);
    let message = format!("Marking for deletion Pod {}/{}", key.namespace, key.name);
    events::record_or_warn(
        ctx,
        involved,
        "Normal",
        "TaintManagerEviction",
        &message,
        EVICTION_COMPONENT,
    )
    .await;
    Ok(())
}
