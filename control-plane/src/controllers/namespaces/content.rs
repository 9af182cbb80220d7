//! A terminating namespace's content: every object of every namespaced kind deleted
//! through the one finalizer-aware delete (`resources/finalizers.rs`), then counted
//! again, as Kubernetes' namespaced resources deleter does, so the conditions can say
//! what remains and which finalizers hold it.

use std::collections::BTreeMap;

use crate::core::{Clock, Error, Kind};
use crate::resources::finalizers;
use crate::resources::owners::OWNER_KINDS;
use crate::store::Store;

/// What is left in a namespace after a deletion pass.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Remaining {
    /// Objects left, by `<plural>.<group>` (the core group is "", so "configmaps.").
    pub by_resource: BTreeMap<String, usize>,
    /// Objects left, by each finalizer they carry.
    pub by_finalizer: BTreeMap<String, usize>,
    /// Kinds whose objects could not all be deleted, with why.
    pub failures: Vec<String>,
}

impl Remaining {
    pub fn is_empty(&self) -> bool {
        self.by_resource.is_empty() && self.failures.is_empty()
    }
}

/// The namespaced kinds, owners first: a workload deleted before its pods stops making
/// new ones (it is gone, or marked and no longer creates).
fn kinds_owners_first() -> Vec<Kind> {
    let (mut owners, others): (Vec<Kind>, Vec<Kind>) =
        Kind::namespaced_kinds().partition(|k| OWNER_KINDS.contains(&k.name) && k.name != "Pod");
    owners.extend(others);
    owners
}

/// `<plural>.<group>`, as the namespace controller names a resource in its conditions.
fn resource_name(kind: &Kind) -> String {
    match kind.info() {
        Some(info) => format!("{}.{}", info.plural, info.group),
        None => format!("{}.", kind.name.to_lowercase()),
    }
}

/// Deletes everything in `namespace` (objects already being deleted are left as they
/// are) and counts what is left.
pub async fn delete_all(
    store: &dyn Store,
    clock: &dyn Clock,
    namespace: &str,
) -> Result<Remaining, Error> {
    let mut remaining = Remaining::default();
    let kinds = kinds_owners_first();
    for kind in &kinds {
        let (items, _) = store.list(kind.name, Some(namespace)).await?;
        let mut failed = None;
        for item in &items {
            if let Err(e) = finalizers::delete_read(store, clock, item).await {
                failed = Some(e);
            }
        }
        if let Some(e) = failed {
            remaining
                .failures
                .push(format!("{}: {e}", resource_name(kind)));
        }
    }
    for kind in &kinds {
        let (items, _) = store.list(kind.name, Some(namespace)).await?;
        if items.is_empty() {
            continue;
        }
        remaining
            .by_resource
            .insert(resource_name(kind), items.len());
        for item in &items {
            let value: serde_json::Value =
                serde_json::from_slice(&item.json).unwrap_or(serde_json::Value::Null);
            for finalizer in finalizers::of(&value) {
                *remaining.by_finalizer.entry(finalizer).or_default() += 1;
            }
        }
    }
    Ok(remaining)
}
