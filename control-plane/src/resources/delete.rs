//! Delete: one object, or a namespace with everything in it.
//!
//! Propagation: with `Background` (the default) and `Foreground` the object goes at once
//! and the garbage collector (`controllers/gc.rs`) then deletes its dependents (objects
//! whose ownerReferences name it). `Orphan` first removes those references from the
//! dependents (`controllers::orphan_dependents`), so they stay.

use super::served::Object as WireObject;
use tracing::info;

use super::namespaces;
use super::objects;
use crate::core::Kind;
use crate::core::{Clock, Error};
use crate::store::{Store, StoreError};

/// The propagation policies Kubernetes accepts ("" = Background).
const PROPAGATION: &[&str] = &["", "Background", "Foreground", "Orphan"];

/// Deletes the object; returns its last state, whose resourceVersion is the deletion's.
pub async fn delete(
    store: &dyn Store,
    clock: &dyn Clock,
    kind: &str,
    namespace: &str,
    name: &str,
    propagation: &str,
) -> Result<WireObject, Error> {
    let kind = Kind::resolve(kind)?;
    if !PROPAGATION.contains(&propagation) {
        return Err(Error::Invalid(format!(
            "propagation policy {propagation:?} is not one of Background, Foreground, Orphan"
        )));
    }
    if name.is_empty() {
        return Err(Error::Invalid("a name is required to delete".into()));
    }
    if kind.name == "Namespace" {
        return namespaces::delete(store, clock, name).await;
    }
    let key = kind.key(namespace, name);
    if propagation == "Orphan" {
        match store.get(&key).await? {
            Some(owner) => {
                crate::resources::owners::orphan_dependents(store, clock, &owner)
                    .await
                    .map_err(|e| {
                        Error::Internal(format!("orphaning the dependents of {key}: {e}"))
                    })?;
            }
            None => return Err(objects::not_found(&key)),
        }
    }
    if matches!(kind.name, "PersistentVolumeClaim" | "PersistentVolume") {
        if let Some(marked) = super::storage::mark_if_finalized(store, clock, &key).await? {
            return Ok(marked);
        }
    }
    match store.delete(&key, None).await {
        Ok(last) => {
            info!(object = %key, "deleted");
            objects::serve(&last)
        }
        Err(StoreError::NotFound(_)) => Err(objects::not_found(&key)),
        Err(e) => Err(e.into()),
    }
}
