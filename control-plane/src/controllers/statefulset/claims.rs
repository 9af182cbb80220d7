//! The claims of a StatefulSet's pods: one per claim template and ordinal, created
//! before the pod and never replaced, and the ownerReferences its
//! `persistentVolumeClaimRetentionPolicy` asks for (Kubernetes' `stateful_set_utils.go`:
//! `whenDeleted: Delete` makes the set an owner, `whenScaled: Delete` makes a condemned
//! pod one; the garbage collector then deletes the claim with its owner).

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

use super::identity::{claim_name, set_name};
use crate::core::objects::{self, decode};
use crate::core::Error;
use crate::store::{Key, Store, StoreError};

/// The claims of `ordinal` that this call created (the others existed already).
pub async fn ensure(
    store: &dyn Store,
    set: &StatefulSet,
    ordinal: i32,
    now: Timestamp,
) -> Result<Vec<String>, Error> {
    let spec = set.spec.clone().unwrap_or_default();
    let mut created = Vec::new();
    for (template, key) in claim_keys(set, ordinal) {
        let (namespace, name) = (key.namespace.clone(), key.name.clone());
        if store.get(&key).await?.is_some() {
            continue;
        }
        let uid = crate::core::ids::new_uid();
        // The template's labels and the set's selector, as Kubernetes labels claims.
        let mut labels = template.metadata.labels.clone().unwrap_or_default();
        labels.extend(spec.selector.match_labels.clone().unwrap_or_default());
        let claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                uid: Some(uid.clone()),
                labels: Some(labels).filter(|l| !l.is_empty()),
                annotations: template.metadata.annotations.clone(),
                creation_timestamp: Some(Time(now)),
                owner_references: wanted_owner(set, None).map(|o| vec![o]),
                ..Default::default()
            },
            spec: template.spec.clone(),
            status: Some(PersistentVolumeClaimStatus {
                phase: Some("Pending".into()),
                ..Default::default()
            }),
        };
        let mut value = serde_json::to_value(&claim).map_err(|e| Error::Internal(e.to_string()))?;
        crate::resources::admit_create(store, &key, &mut value).await?;
        let bytes = serde_json::to_vec(&value).map_err(|e| Error::Internal(e.to_string()))?;
        match store.create(key, uid, bytes).await {
            Ok(_) => created.push(name),
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(created)
}

/// Each claim template of the set with the key of `ordinal`'s claim from it.
fn claim_keys(set: &StatefulSet, ordinal: i32) -> Vec<(PersistentVolumeClaim, Key)> {
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let templates = set
        .spec
        .iter()
        .flat_map(|s| s.volume_claim_templates.iter().flatten());
    templates
        .map(|template| {
            let from = template.metadata.name.as_deref().unwrap_or_default();
            let name = claim_name(from, set_name(set), ordinal);
            let key = Key::new("PersistentVolumeClaim", &namespace, name);
            (template.clone(), key)
        })
        .collect()
}

/// Whether the policy field says `Delete` (`Retain` is the default).
fn deletes(set: &StatefulSet, field: fn(&PolicyRef) -> Option<&str>) -> bool {
    let policy = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    policy.and_then(field) == Some("Delete")
}

type PolicyRef = k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy;

/// The owner a claim should have: the set with `whenDeleted: Delete`, else the pod
/// (when given: it is condemned by a scale-down) with `whenScaled: Delete`.
fn wanted_owner(set: &StatefulSet, condemned_pod: Option<&ObjectMeta>) -> Option<OwnerReference> {
    if let Some(pod) = condemned_pod.filter(|_| deletes(set, |p| p.when_scaled.as_deref())) {
        return Some(reference("v1", "Pod", pod));
    }
    deletes(set, |p| p.when_deleted.as_deref())
        .then(|| reference("apps/v1", "StatefulSet", &set.metadata))
}

fn reference(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: None,
        block_owner_deletion: Some(true),
    }
}

/// Brings the owner references of `ordinal`'s claims in line with the policy: the set's
/// and pods' references this controller manages are replaced by the one wanted now
/// (none with `Retain`); references others put there stay.
pub async fn align_owners(
    store: &dyn Store,
    set: &StatefulSet,
    ordinal: i32,
    condemned_pod: Option<&ObjectMeta>,
) -> Result<(), Error> {
    let wanted = wanted_owner(set, condemned_pod);
    let set_uid = set.metadata.uid.clone().unwrap_or_default();
    for (_, key) in claim_keys(set, ordinal) {
        let Some(stored) = store.get(&key).await? else {
            continue;
        };
        let claim: PersistentVolumeClaim = decode(&stored)?;
        let managed = |r: &OwnerReference| {
            r.uid == set_uid
                || (r.kind == "Pod" && r.name == super::identity::pod_name(set_name(set), ordinal))
        };
        let mut refs: Vec<OwnerReference> =
            claim.metadata.owner_references.clone().unwrap_or_default();
        let before = refs.clone();
        refs.retain(|r| !managed(r));
        refs.extend(wanted.clone());
        if refs == before {
            continue;
        }
        let uid = stored.uid.clone();
        objects::modify_if::<PersistentVolumeClaim, _>(store, &key, &uid, |claim| {
            let refs = refs.clone();
            claim.metadata.owner_references = (!refs.is_empty()).then_some(refs);
            true
        })
        .await?;
    }
    Ok(())
}
