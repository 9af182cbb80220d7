//! A Deployment's revisions, read as kubectl reads them on the client side: its
//! ReplicaSets (controlled by it, by uid) with their `deployment.kubernetes.io/revision`
//! and `kubernetes.io/change-cause` annotations. Undo copies the chosen revision's pod
//! template (without its `pod-template-hash` label) and change-cause into the
//! Deployment; the controller then finds that ReplicaSet as the new one.

use anyhow::bail;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// One revision: its number, change-cause and pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub number: i64,
    pub change_cause: Option<String>,
    pub template: PodTemplateSpec,
}

/// The revisions of the Deployment with `uid` among `sets`, oldest first.
pub fn revisions(uid: &str, sets: &[Value]) -> Vec<Revision> {
    let mut owned: Vec<Revision> = sets
        .iter()
        .filter_map(|v| serde_json::from_value::<ReplicaSet>(v.clone()).ok())
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && o.uid == uid)
        })
        .map(|rs| Revision {
            number: annotation(&rs, REVISION)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            change_cause: annotation(&rs, CHANGE_CAUSE).map(str::to_string),
            template: template_of(&rs),
        })
        .filter(|r| r.number > 0)
        .collect();
    owned.sort_by_key(|r| r.number);
    owned
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The ReplicaSet's pod template without the label the Deployment controller adds.
fn template_of(rs: &ReplicaSet) -> PodTemplateSpec {
    let template = rs.spec.as_ref().and_then(|s| s.template.clone());
    without_hash(template.unwrap_or_default())
}

fn without_hash(mut template: PodTemplateSpec) -> PodTemplateSpec {
    if let Some(meta) = template.metadata.as_mut() {
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(TEMPLATE_HASH_LABEL);
        }
        if meta.labels.as_ref().is_some_and(|l| l.is_empty()) {
            meta.labels = None;
        }
    }
    template
}

/// `1, 2, 3`, or `none`, for messages naming the revisions there are.
pub fn list(revisions: &[Revision]) -> String {
    let numbers: Vec<String> = revisions.iter().map(|r| r.number.to_string()).collect();
    if numbers.is_empty() {
        "none".into()
    } else {
        numbers.join(", ")
    }
}

/// The revision `undo --to-revision=N` goes to (0: the newest one that is not the
/// Deployment's current revision).
pub fn undo_target<'a>(
    deployment: &Value,
    revisions: &'a [Revision],
    to_revision: i64,
) -> anyhow::Result<&'a Revision> {
    let name = deployment
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if to_revision < 0 {
        bail!("--to-revision {to_revision}: a revision is a positive number");
    }
    if deployment.pointer("/spec/paused") == Some(&Value::Bool(true)) {
        bail!(
            "you cannot rollback a paused deployment; resume it first with \
             'skiff rollout resume deployment/{name}' and try again"
        );
    }
    if to_revision == 0 {
        let current = deployment
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION))
            .and_then(Value::as_str)
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0);
        return match revisions.iter().rev().find(|r| r.number != current) {
            Some(r) => Ok(r),
            None => bail!("no previous revision of deployment {name:?} to roll back to"),
        };
    }
    match revisions.iter().find(|r| r.number == to_revision) {
        Some(r) => Ok(r),
        None => bail!(
            "unable to find the specified revision {to_revision} of deployment {name:?}; revisions: {}",
            list(revisions)
        ),
    }
}

/// Puts the revision's template and change-cause into the Deployment; false when its
/// template already is that one.
pub fn roll_back(deployment: &mut Value, revision: &Revision) -> anyhow::Result<bool> {
    let now: PodTemplateSpec =
        serde_json::from_value(deployment["spec"]["template"].clone()).unwrap_or_default();
    // The revision's template has no hash label already.
    if without_hash(now) == revision.template {
        return Ok(false);
    }
    deployment["spec"]["template"] = serde_json::to_value(&revision.template)?;
    let metadata = &mut deployment["metadata"];
    if !metadata.get("annotations").is_some_and(Value::is_object) {
        metadata["annotations"] = Value::Object(Default::default());
    }
    let annotations = metadata["annotations"]
        .as_object_mut()
        .expect("annotations was just made an object");
    match &revision.change_cause {
        Some(cause) => {
            annotations.insert(CHANGE_CAUSE.into(), Value::String(cause.clone()));
        }
        None => {
            annotations.remove(CHANGE_CAUSE);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rs(name: &str, owner: &str, revision: &str, image: &str, cause: Option<&str>) -> Value {
        let mut annotations = json!({ REVISION: revision });
        if let Some(cause) = cause {
            annotations[CHANGE_CAUSE] = json!(cause);
        }
        json!({
            "metadata": {"name": name, "annotations": annotations,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner, "controller": true}]},
            "spec": {"selector": {}, "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": name}},
                "spec": {"containers": [{"name": "web", "image": image}]}}},
        })
    }

    #[test]
    fn revisions_are_the_owned_replica_sets_in_order() {
        let sets = [
            rs("b", "u1", "2", "nginx:2", Some("set image")),
            rs("a", "u1", "1", "nginx:1", None),
            rs("other", "u2", "3", "x", None),
        ];
        let revisions = revisions("u1", &sets);
        assert_eq!(list(&revisions), "1, 2");
        assert_eq!(revisions[1].change_cause.as_deref(), Some("set image"));
        let labels = revisions[0]
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert!(!labels.contains_key(TEMPLATE_HASH_LABEL));
    }

    #[test]
    fn undo_copies_the_template_or_says_which_revisions_exist() {
        let sets = [
            rs("a", "u1", "1", "nginx:1", None),
            rs("b", "u1", "2", "nginx:2", Some("c")),
        ];
        let revisions = revisions("u1", &sets);
        let mut deploy = json!({
            "metadata": {"name": "web", "annotations": {REVISION: "2", CHANGE_CAUSE: "c"}},
            "spec": {"template": sets[1]["spec"]["template"].clone()},
        });
        let err = undo_target(&deploy, &revisions, 9).unwrap_err();
        assert!(err.to_string().ends_with("revisions: 1, 2"), "{err}");
        let target = undo_target(&deploy, &revisions, 0).unwrap();
        assert_eq!(target.number, 1);
        assert!(roll_back(&mut deploy, target).unwrap());
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1"
        );
        assert!(deploy["metadata"]["annotations"]
            .get(CHANGE_CAUSE)
            .is_none());
        assert!(!roll_back(&mut deploy, target).unwrap());
    }
}
