//! Delete: one object, or a namespace with everything in it.
//!
//! An object with finalizers is only marked and goes with its last finalizer
//! (`finalizers.rs`). Propagation: with `Background` (the default) the object goes at
//! once and the garbage collector (`controllers/gc.rs`) then deletes its dependents
//! (objects whose ownerReferences name it). `Foreground` keeps the owner, marked, with
//! the `foregroundDeletion` finalizer, which the collector removes once its dependents
//! that block it (`blockOwnerDeletion`) are gone. `Orphan` keeps the owner, marked,
//! with the `orphan` finalizer, which the collector removes once it has removed the
//! owner's references from its dependents, so they stay. A kind that cannot own
//! anything goes as with Background.

use super::finalizers::{self, Deleted, Pinned};
use super::namespaces;
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
    // A kind that cannot own anything goes as with Background.
    let extra = match propagation {
        "Foreground" if OWNER_KINDS.contains(&kind.name) => Some(finalizers::FOREGROUND),
        "Orphan" if OWNER_KINDS.contains(&kind.name) => Some(finalizers::ORPHAN),
        _ => None,
    };
    finalizers::delete(store, clock, &key, extra, Pinned::default())
        .await
        .map(Deleted::object)
}
