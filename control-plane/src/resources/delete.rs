//! Delete: one object, or a namespace with everything in it.
//!
//! An object with finalizers is only marked and goes with its last finalizer
//! (`finalizers.rs`). Propagation: with `Background` (the default) the object goes at
//! once and the garbage collector (`controllers/gc.rs`) then deletes its dependents
//! (objects whose ownerReferences name it). `Foreground` keeps the owner, marked, with
//! the `foregroundDeletion` finalizer, which the collector removes once its dependents
//! that block it (`blockOwnerDeletion`) are gone; a kind that cannot own anything goes
//! as with Background. `Orphan` first removes those references from the dependents
//! (`owners::orphan_dependents`, synchronously rather than through Kubernetes' `orphan`
//! finalizer), so they stay.

use super::finalizers::{self, Deleted, Pinned};
use super::namespaces;
use super::objects;
use super::owners::OWNER_KINDS;
use super::served::Object as WireObject;
use crate::core::Kind;
use crate::core::{Clock, Error};
use crate::store::Store;

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
    super::read_only::refuse(kind.name, "delete")?;
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
    let foreground = propagation == "Foreground" && OWNER_KINDS.contains(&kind.name);
    let extra = foreground.then_some(finalizers::FOREGROUND);
    finalizers::delete(store, clock, &key, extra, Pinned::default())
        .await
        .map(Deleted::object)
}
