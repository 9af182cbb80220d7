//! Ownership through ownerReferences: who depends on whom, removing references, and the
//! Orphan policy's removal of an owner's references (`delete --cascade=orphan`), which
//! the garbage collector (`controllers/gc.rs`) runs while the `orphan` finalizer holds
//! the owner.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::Value;

use super::objects::metadata_mut;
use crate::core::Error;
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

/// The Orphan policy's work, done by the garbage collector while the owner is held by
/// the `orphan` finalizer: removes every reference to it from its dependents. How many
/// there were.
pub async fn orphan_dependents(store: &dyn Store, owner: &Stored) -> Result<usize, Error> {
    let dependents = dependents_of(store, &owner.key.namespace, &owner.uid).await;
    for dependent in &dependents {
        strip(store, dependent, |r| r.uid == owner.uid).await?;
    }
    Ok(dependents.len())
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
