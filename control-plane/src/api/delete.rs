//! Delete: one object, or a namespace with everything in it.
//!
//! Propagation: `Background` (the default) and `Foreground` are meant to delete the
//! object's dependents (objects whose ownerReferences name it) and `Orphan` to keep them.
//! Until the garbage collector arrives with the workload controllers, every policy
//! deletes just the object: dependents stay, as with `Orphan`.

use skiff_proto::v1::Object as WireObject;
use tracing::info;

use super::objects::{self, Kind};
use super::{namespaces, ApiError};
use crate::store::{Store, StoreError};

/// The propagation policies Kubernetes accepts ("" = Background).
const PROPAGATION: &[&str] = &["", "Background", "Foreground", "Orphan"];

/// Deletes the object; returns its last state, whose resourceVersion is the deletion's.
pub async fn delete(
    store: &dyn Store,
    kind: &str,
    namespace: &str,
    name: &str,
    propagation: &str,
) -> Result<WireObject, ApiError> {
    let kind = Kind::resolve(kind)?;
    if !PROPAGATION.contains(&propagation) {
        return Err(ApiError::Invalid(format!(
            "propagation policy {propagation:?} is not one of Background, Foreground, Orphan"
        )));
    }
    if name.is_empty() {
        return Err(ApiError::Invalid("a name is required to delete".into()));
    }
    if kind.name == "Namespace" {
        return namespaces::delete(store, name).await;
    }
    let key = kind.key(namespace, name);
    match store.delete(&key, None).await {
        Ok(last) => {
            info!(object = %key, "deleted");
            objects::serve(&last)
        }
        Err(StoreError::NotFound(_)) => Err(objects::not_found(&key)),
        Err(e) => Err(e.into()),
    }
}
