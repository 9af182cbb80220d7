//! Ownership through ownerReferences: who depends on whom, removing references, and the
//! Orphan policy (`delete --cascade=orphan`), which the delete verb runs before the owner
//! goes and the garbage collector (`controllers/gc.rs`) relies on.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;
use tracing::info;

use super::objects::metadata_mut;
use crate::core::{Clock, Error};
use crate::store::{modify_stored, Edit, Store, Stored};

/// Kinds that have owners (what the workload controllers create; a StatefulSet's claims
/// get owners from its persistentVolumeClaimRetentionPolicy; a Service's EndpointSlices).
pub const DEPENDENT_KINDS: &[&str] = &[
    "Pod",
    "ReplicaSet",
    "Job",
    "PersistentVolumeClaim",
    "EndpointSlice",
];
/// Kinds whose deletion can leave dependents behind (a Pod: a scaled-down StatefulSet
/// pod's claims with `whenScaled: Delete`).
pub const OWNER_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
];

pub fn owner_refs(json: &[u8]) -> Vec<OwnerReference> {
    serde_json::from_slice::<Value>(json)
        .map(|v| owner_refs_of(&v))
        .unwrap_or_default()
}

pub fn owner_refs_of(value: &Value) -> Vec<OwnerReference> {
    value
        .pointer("/metadata/ownerReferences")
        .and_then(|refs| serde_json::from_value(refs.clone()).ok())
        .unwrap_or_default()
}

/// The objects in `namespace` with an owner reference to `uid`.
pub async fn dependents_of(store: &dyn Store, namespace: &str, uid: &str) -> Vec<Stored> {
    let mut found = Vec::new();
    for kind in DEPENDENT_KINDS {
        if let Ok((items, _)) = store.list(kind, Some(namespace)).await {
            found.extend(
                items
                    .into_iter()
                    .filter(|s| owner_refs(&s.json).iter().any(|r| r.uid == uid)),
            );
        }
    }
    found
}

/// Removes the owner references `drop` picks from the stored object.
pub async fn strip(
    store: &dyn Store,
    stored: &Stored,
    drop: impl Fn(&OwnerReference) -> bool,
) -> Result<(), Error> {
    edit_json(store, stored, "its owner references were edited", |value| {
        let refs = owner_refs_of(value);
        let kept: Vec<&OwnerReference> = refs.iter().filter(|r| !drop(r)).collect();
        if kept.len() == refs.len() {
            return false;
        }
        let meta = metadata_mut(value);
        if kept.is_empty() {
            meta.remove("ownerReferences");
        } else {
            meta.insert(
                "ownerReferences".into(),
                serde_json::to_value(&kept).expect("serializes"),
            );
        }
        true
    })
    .await
}

/// The Orphan policy: marks the owner as being deleted (so its controller stops adopting
/// and creating), then removes every reference to it from its dependents. The caller
/// deletes the owner afterwards.
pub async fn orphan_dependents(
    store: &dyn Store,
    clock: &dyn Clock,
    owner: &Stored,
) -> Result<usize, Error> {
    mark_deleting(store, clock, owner).await?;
    let dependents = dependents_of(store, &owner.key.namespace, &owner.uid).await;
    for dependent in &dependents {
        strip(store, dependent, |r| r.uid == owner.uid).await?;
    }
    info!(owner = %owner.key, dependents = dependents.len(), "dependents orphaned");
    Ok(dependents.len())
}

/// Sets `metadata.deletionTimestamp` on the owner, unless already set.
async fn mark_deleting(store: &dyn Store, clock: &dyn Clock, owner: &Stored) -> Result<(), Error> {
    edit_json(store, owner, "being marked for deletion", |value| {
        let meta: ObjectMeta =
            serde_json::from_value(value["metadata"].clone()).unwrap_or_default();
        if meta.deletion_timestamp.is_some() {
            return false;
        }
        metadata_mut(value).insert(
            "deletionTimestamp".into(),
            Value::String(clock.now_seconds().to_string()),
        );
        true
    })
    .await
}

/// Read-modify-write of a stored object's JSON ([`modify_stored`]): `edit` changes the
/// value and says whether it changed anything. An object that is gone or was replaced
/// (another uid) is left alone. `doing` ends the error when the object keeps changing.
async fn edit_json(
    store: &dyn Store,
    stored: &Stored,
    doing: &str,
    mut edit: impl FnMut(&mut Value) -> bool,
) -> Result<(), Error> {
    let key = &stored.key;
    modify_stored(
        store,
        key,
        Some(&stored.uid),
        |current| {
            let mut value: Value = current.parse()?;
            Ok(if edit(&mut value) {
                Edit::Write(serde_json::to_vec(&value).expect("serializes"), ())
            } else {
                Edit::Keep(())
            })
        },
        || Error::Invalid(format!("{key} kept changing while {doing}")),
    )
    .await?;
    Ok(())
}
