//! Typed access to stored objects: decode, encode, read-modify-write with
//! compare-and-swap, the gRPC envelope, and the condition bookkeeping Kubernetes does.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::Metadata;
use serde::de::DeserializeOwned;
use serde::Serialize;
use skiff_proto::v1::Object;

use super::error::NodesError;
use super::LEASE_NAMESPACE;
pub use crate::api::new_uid;
use crate::store::{self, Key, Store, StoreError, Stored, CAS_ATTEMPTS};
pub use crate::store::{decode, encode, Modified};

pub fn node_key(name: &str) -> Key {
    Key::new("Node", "", name)
}

pub fn lease_key(node: &str) -> Key {
    Key::new("Lease", LEASE_NAMESPACE, node)
}

pub fn pod_key(namespace: &str, name: &str) -> Key {
    Key::new("Pod", namespace, name)
}

/// The envelope agents receive: the stored JSON with uid and resourceVersion filled in.
pub fn envelope(stored: &Stored) -> Object {
    let revision = stored.revision.to_string();
    let json = match serde_json::from_slice::<serde_json::Value>(&stored.json) {
        Ok(mut value) => {
            if let Some(object) = value.as_object_mut() {
                let meta = object
                    .entry("metadata")
                    .or_insert_with(|| serde_json::json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("uid".into(), stored.uid.clone().into());
                    meta.insert("resourceVersion".into(), revision.clone().into());
                }
            }
            serde_json::to_vec(&value).expect("a JSON value serializes")
        }
        // Not ours to fix: pass it on as stored, the receiver reports it.
        Err(_) => stored.json.clone(),
    };
    Object {
        kind: stored.key.kind.clone(),
        namespace: stored.key.namespace.clone(),
        name: stored.key.name.clone(),
        uid: stored.uid.clone(),
        resource_version: revision,
        json,
    }
}

/// Read-modify-write with compare-and-swap ([`store::modify`]); an object that keeps
/// changing under us is [`NodesError::Contended`].
pub async fn modify<T, F>(
    store: &dyn Store,
    key: &Key,
    uid: Option<&str>,
    change: F,
) -> Result<Modified<T>, NodesError>
where
    T: DeserializeOwned + Serialize + Metadata<Ty = ObjectMeta>,
    F: FnMut(&mut T) -> Result<bool, NodesError>,
{
    store::modify(store, key, uid, change, || {
        NodesError::Contended(key.clone())
    })
    .await
}

/// [`modify`], or when the object does not exist, create it as `initial` returns it
/// (with `change` applied too). Returns the object as written or found.
pub async fn modify_or_create<T, I, F>(
    store: &dyn Store,
    key: &Key,
    initial: I,
    mut change: F,
) -> Result<T, NodesError>
where
    T: DeserializeOwned + Serialize + Metadata<Ty = ObjectMeta>,
    I: Fn() -> T,
    F: FnMut(&mut T) -> Result<bool, NodesError>,
{
    for _ in 0..CAS_ATTEMPTS {
        match modify(store, key, None, &mut change).await? {
            Modified::Written(object) | Modified::Unchanged(object) => return Ok(object),
            Modified::Missing => {}
        }
        let mut object = initial();
        change(&mut object)?;
        let uid = object.metadata().uid.clone().unwrap_or_else(new_uid);
        object.metadata_mut().uid = Some(uid.clone());
        match store.create(key.clone(), uid, encode(&object)).await {
            Ok(written) => {
                object.metadata_mut().resource_version = Some(written.revision.to_string());
                return Ok(object);
            }
            Err(StoreError::AlreadyExists(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(NodesError::Contended(key.clone()))
}

/// The node a pod is bound to, if any.
pub fn pod_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Succeeded or Failed: the pod holds no resources any more.
pub fn pod_is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

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
