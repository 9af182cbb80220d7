//! Mirror pods: the API's view of a node's static pods (`--manifests`), as the kubelet
//! keeps them. The agent sends its whole static set (`Node.SyncMirrorPods`, level
//! triggered, resent periodically); this makes the store match it:
//!
//! - a static pod `<name>` on node `<node>` is the pod `<name>-<node>` in the same
//!   namespace, bound to the node, annotated `kubernetes.io/config.mirror` (the static
//!   pod's uid) and carrying the agent's status;
//! - a mirror of this node whose static pod is gone is deleted;
//! - a pod of that name that is not this node's mirror (a user's pod) is left alone;
//! - no mirror is made in a namespace that does not exist or is being deleted.
//!
//! Deleting a mirror through the API does nothing to the static pod (agents ignore
//! mirror pods in their watch); the node's next sync makes it again.

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use crate::resources::Object;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::core::{Clock, Error};
use crate::resources::write::admit_namespace;
use crate::store::{Key, Store, StoreError};

pub use crate::core::annotations::MIRROR_ANNOTATION;

/// What a sync changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    pub created: i32,
    pub updated: i32,
    pub deleted: i32,
}

/// The mirror of `static_pod` on `node`, as stored (no resourceVersion, no uid: the
/// store keeps those).
pub fn mirror_of(static_pod: &Pod, node: &str, clock: &dyn Clock) -> Result<(Key, Value), Error> {
    let meta = &static_pod.metadata;
    let name = meta
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::Invalid("a static pod without a name cannot be mirrored".into()))?;
    let namespace = meta
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    let mirror_name = format!("{name}-{node}");
    let mut annotations = meta.annotations.clone().unwrap_or_default();
    annotations.insert(
        MIRROR_ANNOTATION.into(),
        meta.uid.clone().unwrap_or_default(),
    );
    let mut spec = static_pod.spec.clone().unwrap_or_default();
    spec.node_name = Some(node.to_string());
    let mirror = Pod {
        metadata: ObjectMeta {
            name: Some(mirror_name.clone()),
            namespace: Some(namespace.to_string()),
            labels: meta.labels.clone(),
            annotations: Some(annotations),
            creation_timestamp: meta
                .creation_timestamp
                .clone()
                .or_else(|| Some(Time(clock.now_seconds()))),
            ..Default::default()
        },
        spec: Some(spec),
        status: static_pod.status.clone(),
    };
    let value = serde_json::to_value(&mirror).map_err(|e| Error::Internal(e.to_string()))?;
    Ok((Key::new("Pod", namespace, mirror_name), value))
}

/// True when `pod` (stored JSON) is a mirror pod of `node`.
fn is_mirror_of(pod: &Value, node: &str) -> bool {
    pod["metadata"]["annotations"][MIRROR_ANNOTATION].is_string() && pod["spec"]["nodeName"] == node
}

/// Makes the store's mirror pods of `node` match `statics`.
pub async fn sync(
    store: &dyn Store,
    clock: &dyn Clock,
    node: &str,
    statics: &[Object],
) -> Result<Synced, Error> {
    let mut synced = Synced::default();
    let mut wanted = BTreeSet::new();
    for object in statics {
        let pod: Pod = serde_json::from_slice(&object.json)
            .map_err(|e| Error::Invalid(format!("static pod {}: {e}", object.name)))?;
        let (key, value) = mirror_of(&pod, node, clock)?;
        wanted.insert(key.clone());
        match put(store, &key, &value, node).await {
            Ok(Some(true)) => synced.created += 1,
            Ok(Some(false)) => synced.updated += 1,
            Ok(None) => {}
            Err(e) => warn!(mirror = %key, error = %e, "mirror pod not written"),
        }
    }
    let (pods, _) = store.list("Pod", None).await?;
    for stored in pods {
        if wanted.contains(&stored.key) {
            continue;
        }
        let Ok(value) = serde_json::from_slice::<Value>(&stored.json) else {
            continue;
        };
        if !is_mirror_of(&value, node) {
            continue;
        }
        // Changed or deleted meanwhile: the next sync looks again.
        let deleted = super::finalizers::delete_read(store, clock, &stored).await?;
        if deleted.is_some_and(|d| d.acted()) {
            info!(mirror = %stored.key, node, "static pod gone: mirror pod deleted");
            synced.deleted += 1;
        }
    }
    Ok(synced)
}

/// Creates or updates one mirror; Some(true) created, Some(false) updated, None when it
/// was already so (or the name belongs to someone else's pod).
async fn put(
    store: &dyn Store,
    key: &Key,
    value: &Value,
    node: &str,
) -> Result<Option<bool>, Error> {
    match store.get(key).await? {
        None => {
            admit_namespace(store, key).await?;
            // The API serves the uid from the stored JSON, as `apply` writes it.
            let uid = crate::core::ids::new_uid();
            let mut value = value.clone();
            value["metadata"]["uid"] = uid.clone().into();
            let json = serde_json::to_vec(&value).map_err(|e| Error::Internal(e.to_string()))?;
            store.create(key.clone(), uid, json).await?;
            info!(mirror = %key, node, "mirror pod created");
            Ok(Some(true))
        }
        Some(stored) => {
            let current: Value = serde_json::from_slice(&stored.json).unwrap_or(Value::Null);
            if !is_mirror_of(&current, node) {
                debug!(mirror = %key, "a pod of that name is not this node's mirror: left alone");
                return Ok(None);
            }
            let mut merged = value.clone();
            // Keep what the server added: the creation time and the uid.
            for kept in ["creationTimestamp", "uid"] {
                if let Some(v) = current["metadata"][kept].as_str() {
                    merged["metadata"][kept] = v.into();
                }
            }
            if merged == current {
                return Ok(None);
            }
            let json = serde_json::to_vec(&merged).map_err(|e| Error::Internal(e.to_string()))?;
            match store.update(key.clone(), json, Some(stored.revision)).await {
                Ok(_) => Ok(Some(false)),
                Err(StoreError::Conflict { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
    }
}
