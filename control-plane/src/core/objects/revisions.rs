//! Revisions: every ReplicaSet a Deployment made carries `deployment.kubernetes.io/revision`;
//! the Deployment carries the revision of its current one. `rollout history` lists them
//! and `rollout undo` copies an old ReplicaSet's template back (see `resources/rollout.rs`).

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// The revision an object's annotation names (0 when none).
pub fn revision(meta: &ObjectMeta) -> i64 {
    annotation(meta, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

pub fn set_annotation(meta: &mut ObjectMeta, key: &str, value: String) -> bool {
    let annotations = meta.annotations.get_or_insert_with(Default::default);
    if annotations.get(key) == Some(&value) {
        return false;
    }
    annotations.insert(key.to_string(), value);
    true
}

pub fn max_revision<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    sets.into_iter()
        .map(|rs| revision(&rs.metadata))
        .max()
        .unwrap_or(0)
}
