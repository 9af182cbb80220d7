//! UpdatePodStatus: an agent reports what its pods are doing.
//!
//! Only `status` is replaced, and only on pods bound to the calling node; everything else
//! stays exactly as stored (the JSON is edited as a value, not re-serialised through a
//! typed struct). The write is a compare-and-swap on the revision read, retried from a
//! fresh read on conflict, so a concurrent scheduler or API write is never lost.
//! Conditions the control plane owns (`PodScheduled`, `DisruptionTarget`) survive a status
//! that lacks them, as the kubelet keeps them.

use k8s_openapi::api::core::v1::PodStatus;
use serde_json::Value;
use skiff_proto::v1::Object;

use super::invalid;
use crate::controllers::nodes::NodeContext;
use crate::core::objects::pod_key;
use crate::core::Error;
use crate::store::{modify_stored, Edit, Modified};

/// Condition types the control plane sets and an agent's status must not drop.
const CONTROL_PLANE_CONDITIONS: &[&str] = &["PodScheduled", "DisruptionTarget"];

/// Applies every pod's status; one pod's failure does not stop the others, and the first
/// failure is returned at the end.
pub async fn update_pod_status(
    ctx: &NodeContext,
    node: &str,
    pods: &[Object],
) -> Result<(), Error> {
    let mut first_error = None;
    for pod in pods {
        if let Err(err) = update_one(ctx, node, pod).await {
            tracing::warn!(node, pod = %pod.name, error = %err, "pod status not applied");
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The outcome for one pod, for tests and logs.
#[derive(Debug, PartialEq, Eq)]
pub enum StatusUpdate {
    Written,
    Unchanged,
    /// The pod is gone or was replaced by another of the same name.
    Gone,
}

pub async fn update_one(
    ctx: &NodeContext,
    node: &str,
    envelope: &Object,
) -> Result<StatusUpdate, Error> {
    let reported: Value = serde_json::from_slice(&envelope.json)
        .map_err(|e| invalid(format!("pod {:?}: {e}", envelope.name)))?;
    let status = reported
        .get("status")
        .cloned()
        .ok_or_else(|| invalid(format!("pod {:?} carries no status", envelope.name)))?;
    serde_json::from_value::<PodStatus>(status.clone())
        .map_err(|e| invalid(format!("pod {:?}: status: {e}", envelope.name)))?;
    let meta = &reported["metadata"];
    let pick = |outer: &str, field: &str| {
        Some(outer.to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| meta[field].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let namespace = Some(pick(&envelope.namespace, "namespace"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    let name = pick(&envelope.name, "name");
    let uid = Some(pick(&envelope.uid, "uid")).filter(|s| !s.is_empty());
    let key = pod_key(&namespace, &name);
    let store = ctx.cp.store.as_ref();

    let now = ctx.clock.now_seconds().to_string();
    let contended = || Error::Conflict(format!("{key} kept changing under us; giving up for now"));
    let modified = modify_stored(
        store,
        &key,
        uid.as_deref(),
        |stored| {
            let mut current: Value = stored.parse()?;
            if current["spec"]["nodeName"].as_str() != Some(node) {
                return Err(Error::PermissionDenied(format!(
                    "{key} is not bound to node {node:?}"
                )));
            }
            let mut new_status = keep_control_plane_conditions(status.clone(), &current["status"]);
            stamp_transitions(&mut new_status, &current["status"], &now);
            if current["status"] == new_status {
                return Ok(Edit::Keep(()));
            }
            current["status"] = new_status;
            let json = serde_json::to_vec(&current).expect("a JSON value serializes");
            Ok(Edit::Write(json, ()))
        },
        contended,
    )
    .await?;
    Ok(match modified {
        Modified::Written(_) => StatusUpdate::Written,
        Modified::Unchanged(_) => StatusUpdate::Unchanged,
        Modified::Missing => StatusUpdate::Gone,
    })
}

/// Gives conditions without a `lastTransitionTime` one, as the kubelet's status manager
/// does: the stored one while the condition's status is unchanged, else now. Ready's
/// transition time is what minReadySeconds counts from (workload controllers).
fn stamp_transitions(status: &mut Value, stored: &Value, now: &str) {
    let Some(conditions) = status["conditions"].as_array_mut() else {
        return;
    };
    for condition in conditions {
        if condition["lastTransitionTime"].is_string() {
            continue;
        }
        let previous = stored["conditions"]
            .as_array()
            .and_then(|old| old.iter().find(|c| c["type"] == condition["type"]))
            .filter(|c| c["status"] == condition["status"])
            .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string));
        condition["lastTransitionTime"] =
            Value::String(previous.unwrap_or_else(|| now.to_string()));
    }
}

/// `status` with the stored control-plane conditions it lacks added back.
fn keep_control_plane_conditions(mut status: Value, stored: &Value) -> Value {
    let Some(stored_conditions) = stored["conditions"].as_array() else {
        return status;
    };
    let kept: Vec<Value> = stored_conditions
        .iter()
        .filter(|c| {
            let type_ = c["type"].as_str().unwrap_or_default();
            CONTROL_PLANE_CONDITIONS.contains(&type_)
                && !status["conditions"]
                    .as_array()
                    .is_some_and(|new| new.iter().any(|n| n["type"] == c["type"]))
        })
        .cloned()
        .collect();
    if kept.is_empty() {
        return status;
    }
    if !status["conditions"].is_array() {
        status["conditions"] = Value::Array(Vec::new());
    }
    if let Some(conditions) = status["conditions"].as_array_mut() {
        conditions.extend(kept);
    }
    status
}
