//! The ConfigMaps, Secrets, claims and volumes a pod uses, read from the control plane
//! one at a time through `Node.GetPodObject`, which answers only for objects a pod bound
//! to this node references (docs/architecture.md, The wire). A standalone agent has none:
//! its static pods cannot use them, as with the kubelet's static pods.

#[cfg(test)]
pub mod fake;
mod memo;
mod remote;

pub use memo::Memo;
pub use remote::RemoteObjects;

use std::future::Future;
use std::pin::Pin;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectsError {
    /// The control plane cannot be asked (standalone agent, no connection).
    #[error("{0}")]
    Unavailable(String),
    /// The control plane refused: no pod on this node references the object.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("decoding {kind} {name}: {error}")]
    Decode {
        kind: String,
        name: String,
        error: String,
    },
}

pub type ObjectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<serde_json::Value>, ObjectsError>> + Send + 'a>>;

/// Reads one object a pod of this node uses; `Ok(None)` when it does not exist.
/// Boxed futures keep it usable as `Arc<dyn PodObjects>`.
pub trait PodObjects: Send + Sync {
    /// `kind` is "ConfigMap", "Secret", "PersistentVolumeClaim" or "PersistentVolume";
    /// `namespace` is empty for PersistentVolumes.
    fn get<'a>(&'a self, kind: &'a str, namespace: &'a str, name: &'a str) -> ObjectFuture<'a>;
}

/// A standalone agent: every object is unavailable, with a message that says why.
#[derive(Debug, Default)]
pub struct NoObjects;

impl PodObjects for NoObjects {
    fn get<'a>(&'a self, kind: &'a str, _namespace: &'a str, name: &'a str) -> ObjectFuture<'a> {
        Box::pin(async move {
            Err(ObjectsError::Unavailable(format!(
                "{kind} {name:?}: this agent is not joined to a control plane, and static pods \
                 cannot use ConfigMaps, Secrets or claims"
            )))
        })
    }
}

/// The typed object, or `None` when it does not exist.
pub async fn get_typed<T: DeserializeOwned>(
    objects: &dyn PodObjects,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<T>, ObjectsError> {
    let Some(value) = objects.get(kind, namespace, name).await? else {
        return Ok(None);
    };
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| ObjectsError::Decode {
            kind: kind.to_string(),
            name: name.to_string(),
            error: e.to_string(),
        })
}

pub async fn config_map(
    objects: &dyn PodObjects,
    namespace: &str,
    name: &str,
) -> Result<Option<ConfigMap>, ObjectsError> {
    get_typed(objects, "ConfigMap", namespace, name).await
}

pub async fn secret(
    objects: &dyn PodObjects,
    namespace: &str,
    name: &str,
) -> Result<Option<Secret>, ObjectsError> {
    get_typed(objects, "Secret", namespace, name).await
}
