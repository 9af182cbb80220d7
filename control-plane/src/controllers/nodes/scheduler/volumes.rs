//! The scheduler's volume checks, as Kubernetes' VolumeBinding and VolumeRestrictions
//! plugins on a small cluster: a pod's claims must exist; an unbound claim of an
//! Immediate class keeps it Pending; a bound claim's volume must be usable from the node
//! (its node affinity); an unbound `WaitForFirstConsumer` claim needs a node where a
//! volume can be found or provisioned, and the chosen node is recorded on it
//! (`volume.kubernetes.io/selected-node`) so the provisioner makes the volume there. The
//! pod is bound once its claims are.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use skiff_proto::storage::{LOCAL_PATH_PROVISIONER, SELECTED_NODE};

use super::fit::NodeInfo;
use crate::controllers::volumes::binding::{
    best_match, claim_class, pod_claims, volume_fits_node, waits_for_consumer,
};
use crate::controllers::volumes::{claim_key, StorageObjects};
use crate::core::objects::{modify, Modified};
use crate::core::Error;
use crate::store::Store;

pub const REASON_AFFINITY: &str = "node(s) had volume node affinity conflict";
pub const REASON_NO_VOLUME: &str = "node(s) didn't find available persistent volumes to bind";
pub const REASON_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// A pod's claims, sorted by what they ask of a node.
#[derive(Default)]
pub struct PodClaims {
    /// Bound: the volume each is bound to.
    bound: Vec<PersistentVolume>,
    /// Unbound, waiting for their first consumer: the claims.
    waiting: Vec<PersistentVolumeClaim>,
}

impl PodClaims {
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }
}

/// The pod's claims, or why it cannot be scheduled anywhere (Kubernetes' words).
pub fn pod_claims_of(pod: &Pod, facts: &StorageObjects) -> Result<PodClaims, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut claims = PodClaims::default();
    for name in pod_claims(pod) {
        let claim = facts.claims.iter().find(|c| {
            c.metadata.namespace.as_deref() == Some(namespace)
                && c.metadata.name.as_deref() == Some(name)
        });
        let Some(claim) = claim else {
            return Err(format!("persistentvolumeclaim {name:?} not found"));
        };
        if claim.metadata.deletion_timestamp.is_some() {
            return Err(format!("persistentvolumeclaim {name:?} is being deleted"));
        }
        let volume_name = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref());
        let volume = volume_name.filter(|v| !v.is_empty()).and_then(|v| {
            facts
                .volumes
                .iter()
                .find(|pv| pv.metadata.name.as_deref() == Some(v))
        });
        match volume {
            Some(pv) => claims.bound.push(pv.clone()),
            None if waits_for_consumer(facts.classes.get(claim_class(claim))) => {
                claims.waiting.push(claim.clone())
            }
            None => return Err(REASON_UNBOUND_IMMEDIATE.into()),
        }
    }
    Ok(claims)
}

/// Why the node cannot serve the pod's claims; `None` when it can.
pub fn unfit_reason(
    claims: &PodClaims,
    facts: &StorageObjects,
    info: &NodeInfo,
) -> Option<&'static str> {
    let labels = info.node.metadata.labels.clone().unwrap_or_default();
    if claims
        .bound
        .iter()
        .any(|pv| !volume_fits_node(pv, &info.name, &labels))
    {
        return Some(REASON_AFFINITY);
    }
    for claim in &claims.waiting {
        let selected = claim
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SELECTED_NODE));
        if selected.is_some_and(|n| *n != info.name) {
            return Some(REASON_NO_VOLUME);
        }
        let provisions = facts
            .classes
            .get(claim_class(claim))
            .is_some_and(|c| c.provisioner == LOCAL_PATH_PROVISIONER);
        if !provisions && best_match(claim, &facts.volumes, Some((&info.name, &labels))).is_none() {
            return Some(REASON_NO_VOLUME);
        }
    }
    None
}

/// Records `node` on every waiting claim of the pod, for the PV controller to bind or
/// provision there.
pub async fn select_node(store: &dyn Store, claims: &PodClaims, node: &str) -> Result<(), Error> {
    for claim in &claims.waiting {
        let key = claim_key(claim);
        let written =
            modify::<PersistentVolumeClaim, _>(store, &key, claim.metadata.uid.as_deref(), |c| {
                let annotations = c.metadata.annotations.get_or_insert_with(BTreeMap::new);
                if annotations.contains_key(SELECTED_NODE) {
                    return Ok(false);
                }
                annotations.insert(SELECTED_NODE.into(), node.into());
                Ok(true)
            })
            .await?;
        if let Modified::Written(_) = written {
            tracing::info!(claim = %key, node, "node selected for claim");
        }
    }
    Ok(())
}
