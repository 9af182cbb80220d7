//! Which volume a claim binds to, and which phase a volume or claim is in: pure
//! functions over the objects of one pass, as Kubernetes' PV controller decides them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use skiff_proto::model::{parse_quantity, selector_matches};

use crate::controllers::nodes::scheduler::affinity::selects_node;

/// Bytes (in milli-units) of a `storage` quantity in `resources`; 0 when unset.
fn storage(
    resources: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> i128 {
    resources
        .and_then(|r| r.get("storage"))
        .and_then(|q| parse_quantity(&q.0).ok())
        .unwrap_or(0)
}

pub fn claim_request(claim: &PersistentVolumeClaim) -> i128 {
    let spec = claim.spec.as_ref();
    storage(
        spec.and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref()),
    )
}

pub fn volume_capacity(pv: &PersistentVolume) -> i128 {
    storage(pv.spec.as_ref().and_then(|s| s.capacity.as_ref()))
}

/// The claim's class name ("" for none).
pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    let spec = claim.spec.as_ref();
    spec.and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

pub fn volume_class(pv: &PersistentVolume) -> &str {
    let spec = pv.spec.as_ref();
    spec.and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

/// Whether the class waits for a pod before binding (`WaitForFirstConsumer`).
pub fn waits_for_consumer(class: Option<&StorageClass>) -> bool {
    class.and_then(|c| c.volume_binding_mode.as_deref()) == Some("WaitForFirstConsumer")
}

/// The volume's phase as stored ("" when unset).
pub fn volume_phase(pv: &PersistentVolume) -> &str {
    let status = pv.status.as_ref();
    status.and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

pub fn claim_phase(claim: &PersistentVolumeClaim) -> &str {
    let status = claim.status.as_ref();
    status.and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

/// `(namespace, name, uid)` of the claim a volume is reserved for, if any.
pub fn claim_ref(pv: &PersistentVolume) -> Option<(String, String, String)> {
    let r = pv.spec.as_ref()?.claim_ref.as_ref()?;
    Some((
        r.namespace.clone().unwrap_or_default(),
        r.name.clone().unwrap_or_default(),
        r.uid.clone().unwrap_or_default(),
    ))
}

pub fn names_claim(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let meta = &claim.metadata;
    claim_ref(pv).is_some_and(|(ns, name, uid)| {
        Some(ns.as_str()) == meta.namespace.as_deref()
            && Some(name.as_str()) == meta.name.as_deref()
            && (uid.is_empty() || Some(uid.as_str()) == meta.uid.as_deref())
    })
}

/// Whether the volume can be used from `node` (true when it has no node affinity).
pub fn volume_fits_node(
    pv: &PersistentVolume,
    node: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    let required = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref());
    required.is_none_or(|selector| selects_node(selector, node, labels))
}

/// The node affinity of a volume on one node, as the local-path provisioner writes it.
pub fn hostname_term(node: &str) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: Some(vec![NodeSelectorRequirement {
            key: "kubernetes.io/hostname".into(),
            operator: "In".into(),
            values: Some(vec![node.to_string()]),
        }]),
        match_fields: None,
    }
}

/// The smallest Available volume that satisfies the claim: same class, capacity at
/// least the request, every requested access mode, the claim's selector, and (when the
/// claim waits for a consumer on `node`) usable from that node. Ties go by name.
pub fn best_match<'a>(
    claim: &PersistentVolumeClaim,
    volumes: &'a [PersistentVolume],
    node: Option<(&str, &BTreeMap<String, String>)>,
) -> Option<&'a PersistentVolume> {
    let spec = claim.spec.as_ref()?;
    let wanted_modes = spec.access_modes.clone().unwrap_or_default();
    let request = claim_request(claim);
    volumes
        .iter()
        .filter(|pv| pv.metadata.deletion_timestamp.is_none())
        .filter(|pv| match claim_ref(pv) {
            None => volume_phase(pv) == "Available" || volume_phase(pv).is_empty(),
            Some(_) => names_claim(pv, claim) && volume_phase(pv) != "Released",
        })
        .filter(|pv| volume_class(pv) == claim_class(claim))
        .filter(|pv| volume_capacity(pv) >= request)
        .filter(|pv| {
            let modes = pv
                .spec
                .as_ref()
                .and_then(|s| s.access_modes.clone())
                .unwrap_or_default();
            wanted_modes.iter().all(|m| modes.contains(m))
        })
        .filter(|pv| {
            spec.selector.as_ref().is_none_or(|selector| {
                let labels = pv.metadata.labels.clone().unwrap_or_default();
                selector_matches(selector, &labels)
            })
        })
        .filter(|pv| node.is_none_or(|(name, labels)| volume_fits_node(pv, name, labels)))
        .min_by(|a, b| {
            (volume_capacity(a), &a.metadata.name).cmp(&(volume_capacity(b), &b.metadata.name))
        })
}

/// The claims (by name) that `pod` mounts.
pub fn pod_claims(pod: &Pod) -> Vec<&str> {
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    volumes
        .into_iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
        .collect()
}

/// Whether a pod that is not finished uses the claim.
pub fn claim_in_use(claim: &PersistentVolumeClaim, pods: &[Pod]) -> bool {
    let (namespace, name) = (
        claim.metadata.namespace.as_deref(),
        claim.metadata.name.as_deref().unwrap_or_default(),
    );
    pods.iter().any(|pod| {
        pod.metadata.namespace.as_deref() == namespace
            && !crate::core::objects::pod_is_terminal(pod)
            && pod_claims(pod).contains(&name)
    })
}
