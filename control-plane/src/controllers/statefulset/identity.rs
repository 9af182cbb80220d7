//! A StatefulSet pod's identity, as Kubernetes' `stateful_set_utils.go` gives it: the
//! name `<set>-<ordinal>`, the labels naming the pod, its index and the set's revision,
//! `hostname`/`subdomain` for its DNS name under the governing Service, and a volume per
//! claim template pointing at that ordinal's claim.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume};

use crate::core::objects::template_hash::template_hash;

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
pub const REVISION_LABEL: &str = "controller-revision-hash";

pub fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or_default()
}

/// The ordinal a pod of `set` carries in its name, if it is one of the set's names.
pub fn ordinal_of(set: &str, pod: &Pod) -> Option<i32> {
    let name = pod.metadata.name.as_deref()?;
    let ordinal = name.strip_prefix(set)?.strip_prefix('-')?;
    let parsed: i32 = ordinal.parse().ok()?;
    // "web-01" is not web's ordinal 1.
    (parsed >= 0 && parsed.to_string() == ordinal).then_some(parsed)
}

pub fn pod_name(set: &str, ordinal: i32) -> String {
    format!("{set}-{ordinal}")
}

/// `<template>-<set>-<ordinal>`: the claim a claim template gives an ordinal.
pub fn claim_name(template: &str, set: &str, ordinal: i32) -> String {
    format!("{template}-{set}-{ordinal}")
}

/// The set's update revision, `<set>-<hash of the template>`, as the pods' label has it.
pub fn update_revision(set: &StatefulSet) -> String {
    let spec = set.spec.clone().unwrap_or_default();
    let collisions = set.status.as_ref().and_then(|s| s.collision_count);
    format!(
        "{}-{}",
        set_name(set),
        template_hash(&spec.template, collisions)
    )
}

pub fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(REVISION_LABEL)
        .map(String::as_str)
}

/// The pod template of ordinal `ordinal` at `revision` from `template` (that revision's).
pub fn pod_template(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    ordinal: i32,
    revision: &str,
) -> PodTemplateSpec {
    let name = set_name(set);
    let pod = pod_name(name, ordinal);
    let mut template = template.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    let labels = meta.labels.get_or_insert_with(Default::default);
    labels.insert(POD_NAME_LABEL.into(), pod.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(REVISION_LABEL.into(), revision.into());
    let spec = template.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(pod);
    spec.subdomain = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty());
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for claim in set
        .spec
        .iter()
        .flat_map(|s| s.volume_claim_templates.iter().flatten())
    {
        let template_name = claim.metadata.name.clone().unwrap_or_default();
        let source = PersistentVolumeClaimVolumeSource {
            claim_name: claim_name(&template_name, name, ordinal),
            read_only: None,
        };
        // A template volume of the claim's name is replaced, as Kubernetes does.
        volumes.retain(|v| v.name != template_name);
        volumes.push(Volume {
            name: template_name,
            persistent_volume_claim: Some(source),
            ..Default::default()
        });
    }
    template
}

/// The template a pod was made from, recovered from the pod: its revision's template
/// when the set has moved on (ordinals below the partition, OnDelete) and a pod of that
/// revision must be recreated. The store keeps no ControllerRevisions, so a living pod
/// of the revision is the only record of it.
pub fn template_of(pod: &Pod) -> PodTemplateSpec {
    let mut meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        labels: pod.metadata.labels.clone(),
        annotations: pod.metadata.annotations.clone(),
        ..Default::default()
    };
    if let Some(labels) = meta.labels.as_mut() {
        for label in [POD_NAME_LABEL, POD_INDEX_LABEL, REVISION_LABEL] {
            labels.remove(label);
        }
    }
    let mut spec = pod.spec.clone();
    if let Some(spec) = spec.as_mut() {
        spec.node_name = None;
    }
    PodTemplateSpec {
        metadata: Some(meta),
        spec,
    }
}
