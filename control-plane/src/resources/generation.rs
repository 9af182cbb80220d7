//! `metadata.generation` as kube-apiserver's strategies keep it: only kinds whose
//! controllers report `status.observedGeneration` (and Pods, EndpointSlices) have one,
//! set to 1 at creation and bumped by a change of what the controllers act on: the
//! `spec` (a Deployment's annotations too, which it copies to its ReplicaSets; anything
//! but metadata for an EndpointSlice, which has no spec). Metadata-only and status
//! writes leave it; ConfigMaps, Secrets, Services, Nodes and the rest have none.

use serde_json::Value;

/// Kinds with a generation.
const TRACKED: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
    "EndpointSlice",
];

pub fn tracked(kind: &str) -> bool {
    TRACKED.contains(&kind)
}

/// Whether the update from `old` to `new` bumps the generation of a `kind`.
pub fn bumps(kind: &str, old: &Value, new: &Value) -> bool {
    if !tracked(kind) {
        return false;
    }
    match kind {
        "EndpointSlice" => without_metadata(old) != without_metadata(new),
        "Deployment" => {
            old.get("spec") != new.get("spec")
                || old.pointer("/metadata/annotations") != new.pointer("/metadata/annotations")
        }
        _ => old.get("spec") != new.get("spec"),
    }
}

fn without_metadata(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("metadata");
    }
    value
}

/// Sets the generation of a new object of `kind` (1), or drops one it may not have.
pub fn initialise(kind: &str, value: &mut Value) {
    let meta = super::objects::metadata_mut(value);
    if tracked(kind) {
        meta.insert("generation".into(), Value::from(1));
    } else {
        meta.remove("generation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_spec_changes_bump_a_replicaset() {
        let old = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}});
        let relabelled = json!({"metadata": {"labels": {"a": "2"}}, "spec": {"replicas": 1}});
        let status = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let scaled = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 2}});
        assert!(!bumps("ReplicaSet", &old, &relabelled));
        assert!(!bumps("ReplicaSet", &old, &status));
        assert!(bumps("ReplicaSet", &old, &scaled));
    }

    #[test]
    fn a_deployments_annotations_bump_it_as_in_kubernetes() {
        let old = json!({"metadata": {}, "spec": {"replicas": 1}});
        let annotated = json!({"metadata": {"annotations": {"a": "1"}}, "spec": {"replicas": 1}});
        assert!(bumps("Deployment", &old, &annotated));
        assert!(!bumps("ReplicaSet", &old, &annotated));
    }

    #[test]
    fn kinds_without_a_generation_never_get_one() {
        let old = json!({"metadata": {}, "data": {"a": "1"}});
        let new = json!({"metadata": {}, "data": {"a": "2"}});
        assert!(!bumps("ConfigMap", &old, &new));
        let mut created = json!({"metadata": {"generation": 4}});
        initialise("ConfigMap", &mut created);
        assert_eq!(created["metadata"].get("generation"), None);
        initialise("Job", &mut created);
        assert_eq!(created["metadata"]["generation"], 1);
    }

    #[test]
    fn an_endpointslice_bumps_on_anything_but_metadata() {
        let old = json!({"metadata": {}, "endpoints": []});
        let new = json!({"metadata": {}, "endpoints": [{"addresses": ["10.42.0.5"]}]});
        let relabelled = json!({"metadata": {"labels": {"a": "b"}}, "endpoints": []});
        assert!(bumps("EndpointSlice", &old, &new));
        assert!(!bumps("EndpointSlice", &old, &relabelled));
    }
}
