//! RecordPodEvents: the kubelet's events about the pods bound to the calling node
//! (Pulling, Started, BackOff, Unhealthy, ...), as Events about the Pod from
//! `kubelet` on that node. Like UpdatePodStatus, a node speaks only for its own pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use skiff_proto::v1::PodEvent;

use super::invalid;
use crate::controllers::nodes::NodeContext;
use crate::core::events::{record_report, reference_to, Report};
use crate::core::objects::{decode, pod_key};
use crate::core::Error;

use super::node_network::KUBELET;

/// Longer messages are cut, as the API server limits an Event's message.
const MESSAGE_LIMIT: usize = 1024;

/// Checks every event, then that every pod named is bound to `node` (else nothing is
/// recorded), then records them. Events about pods that are gone, or were replaced by
/// another of the same name, are dropped: nobody can `describe` them any more.
pub async fn record_pod_events(
    ctx: &NodeContext,
    node: &str,
    events: &[PodEvent],
) -> Result<usize, Error> {
    for e in events {
        if !matches!(e.r#type.as_str(), "Normal" | "Warning") {
            return Err(invalid(format!(
                "event type {:?} is not Normal or Warning",
                e.r#type
            )));
        }
        if e.reason.is_empty() || e.pod_name.is_empty() {
            return Err(invalid("event reason and pod name are required".into()));
        }
    }
    let mut pods: BTreeMap<(String, String), Option<Pod>> = BTreeMap::new();
    for e in events {
        let namespace = namespace_of(e);
        let id = (namespace.clone(), e.pod_name.clone());
        if pods.contains_key(&id) {
            continue;
        }
        let stored = ctx.cp.store.get(&pod_key(&namespace, &e.pod_name)).await?;
        let pod: Option<Pod> = stored.as_ref().map(decode).transpose()?;
        if let Some(pod) = &pod {
            let bound = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
            if bound != Some(node) {
                return Err(Error::PermissionDenied(format!(
                    "pod {namespace}/{} is not bound to node {node:?}",
                    e.pod_name
                )));
            }
        }
        pods.insert(id, pod);
    }
    let mut recorded = 0;
    for e in events {
        let Some(Some(pod)) = pods.get(&(namespace_of(e), e.pod_name.clone())) else {
            continue;
        };
        if !e.pod_uid.is_empty() && pod.metadata.uid.as_deref() != Some(e.pod_uid.as_str()) {
            continue;
        }
        let mut involved = reference_to("Pod", &pod.metadata);
        involved.field_path = Some(e.field_path.clone()).filter(|f| !f.is_empty());
        let message: String = e.message.chars().take(MESSAGE_LIMIT).collect();
        let report = Report {
            involved,
            type_: &e.r#type,
            reason: &e.reason,
            message: &message,
            component: KUBELET,
            host: Some(node),
            count: e.count.max(1),
        };
        record_report(ctx, &report).await?;
        recorded += 1;
    }
    Ok(recorded)
}

fn namespace_of(e: &PodEvent) -> String {
    Some(e.namespace.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into())
}
