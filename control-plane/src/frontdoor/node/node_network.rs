//! What an agent reports about its own Node for the pod network: the annotations peers
//! route by (flannel's `backend-type`, `backend-data`, `public-ip`), conditions such as
//! `NetworkUnavailable`, and events about the node. A node writes only its own Node: the
//! service checks the caller's certificate name before calling in here.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use skiff_proto::v1::NodeConditionReport;

use super::{invalid, not_registered};
use crate::controllers::nodes::NodeContext;
use crate::core::events::{record, reference_to};
use crate::core::objects::{decode, modify, node_key, set_node_condition, Modified};
use crate::core::Error;

/// The agent's name as the source of its events, as the kubelet's.
pub const KUBELET: &str = "kubelet";

/// Merges `annotations` (an empty value removes the key) and sets `conditions` on node
/// `node_name`. Ready stays the server's (heartbeats and the lifecycle controller).
pub async fn update_node_status(
    ctx: &NodeContext,
    node_name: &str,
    annotations: &BTreeMap<String, String>,
    conditions: &[NodeConditionReport],
) -> Result<(), Error> {
    for c in conditions {
        if c.r#type.is_empty() || c.r#type == "Ready" {
            return Err(invalid(format!(
                "condition type {:?} cannot be reported by the node",
                c.r#type
            )));
        }
        if !matches!(c.status.as_str(), "True" | "False" | "Unknown") {
            return Err(invalid(format!(
                "condition {}: status {:?} is not True, False or Unknown",
                c.r#type, c.status
            )));
        }
    }
    let now = ctx.clock.now();
    let written = modify::<Node, _>(ctx.cp.store.as_ref(), &node_key(node_name), None, |node| {
        let mut changed = false;
        let stored = node.metadata.annotations.get_or_insert_with(BTreeMap::new);
        for (key, value) in annotations {
            changed |= if value.is_empty() {
                stored.remove(key).is_some()
            } else {
                stored.insert(key.clone(), value.clone()).as_ref() != Some(value)
            };
        }
        for c in conditions {
            changed |= set_node_condition(node, &c.r#type, &c.status, &c.reason, &c.message, now);
        }
        Ok(changed)
    })
    .await?;
    match written {
        Modified::Missing => Err(not_registered(node_name.to_string())),
        Modified::Written(_) => {
            tracing::info!(node = node_name, "node network status updated");
            Ok(())
        }
        Modified::Unchanged(_) => Ok(()),
    }
}

/// Records an event about node `node_name`, reported by its agent.
pub async fn record_node_event(
    ctx: &NodeContext,
    node_name: &str,
    type_: &str,
    reason: &str,
    message: &str,
) -> Result<(), Error> {
    if !matches!(type_, "Normal" | "Warning") {
        return Err(invalid(format!(
            "event type {type_:?} is not Normal or Warning"
        )));
    }
    if reason.is_empty() {
        return Err(invalid("event reason is required".to_string()));
    }
    let Some(stored) = ctx.cp.store.get(&node_key(node_name)).await? else {
        return Err(not_registered(node_name.to_string()));
    };
    let node: Node = decode(&stored)?;
    let involved = reference_to("Node", &node.metadata);
    record(ctx, involved, type_, reason, message, KUBELET).await
}
