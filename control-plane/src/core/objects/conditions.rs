//! Node and pod conditions, kept the way Kubernetes keeps them.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub fn node_condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// True when the node's Ready condition is True.
pub fn node_is_ready(node: &Node) -> bool {
    node_condition(node, "Ready").is_some_and(|c| c.status == "True")
}

/// Sets a node condition the way Kubernetes does: the transition time moves only when the
/// status changes, the heartbeat time on every write. Returns false (nothing to write)
/// when status, reason and message are already these.
pub fn set_node_condition(
    node: &mut Node,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let conditions = node
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new);
    let existing = conditions.iter_mut().find(|c| c.type_ == type_);
    if let Some(c) = &existing {
        if c.status == status
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message)
        {
            return false;
        }
    }
    let transition = match &existing {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(Time(now)),
    };
    let condition = NodeCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: transition,
    };
    match existing {
        Some(c) => *c = condition,
        None => conditions.push(condition),
    }
    true
}

/// Pod condition counterpart of [`set_node_condition`] (pods have no heartbeat time).
pub fn set_pod_condition(
    pod: &mut Pod,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
    now: Timestamp,
) -> bool {
    let conditions = pod
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new);
    let existing = conditions.iter_mut().find(|c| c.type_ == type_);
    if let Some(c) = &existing {
        if c.status == status && c.reason.as_deref() == reason && c.message.as_deref() == message {
            return false;
        }
    }
    let transition = match &existing {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(Time(now)),
    };
    let condition = PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.map(str::to_string),
        message: message.map(str::to_string),
        last_transition_time: transition,
        ..Default::default()
    };
    match existing {
        Some(c) => *c = condition,
        None => conditions.push(condition),
    }
    true
}
