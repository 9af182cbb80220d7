//! Metadata facts: owner references, labels, deletion and creation times, revisions.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// The revision an object was decoded at (its resourceVersion), for compare-and-swap.
pub fn revision_of(meta: &ObjectMeta) -> Option<i64> {
    meta.resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// The controller reference a workload puts on what it creates or adopts.
pub fn controller_ref(kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Drops the owner references to `uid`; true when one was there.
pub fn remove_owner(meta: &mut ObjectMeta, uid: &str) -> bool {
    let Some(refs) = meta.owner_references.as_mut() else {
        return false;
    };
    let before = refs.len();
    refs.retain(|r| r.uid != uid);
    let removed = refs.len() != before;
    if refs.is_empty() {
        meta.owner_references = None;
    }
    removed
}

pub fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

pub fn is_being_deleted(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// The object's creation time (the epoch when unknown).
pub fn created(meta: &ObjectMeta) -> Timestamp {
    meta.creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}
