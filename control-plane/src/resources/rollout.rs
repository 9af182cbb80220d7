//! Rollout history, undo and pause/resume of a Deployment.
//!
//! History comes from the Deployment's ReplicaSets (`deployment.kubernetes.io/revision`
//! and `kubernetes.io/change-cause`). Undo is what kubectl does client-side: copy the
//! chosen revision's pod template (without its pod-template-hash label) and change-cause
//! into the Deployment; the controller then finds that ReplicaSet as the new one and
//! makes it the newest revision.

use super::served::{Object as WireObject, RolloutRevision};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;
use tracing::info;

use super::objects;
use super::write::edit;
use crate::core::objects::revisions::{self as history, CHANGE_CAUSE};
use crate::core::objects::template_hash::{equal_ignoring_hash, TEMPLATE_HASH_LABEL};
use crate::core::objects::{controller_of, decode_all};
use crate::core::{Clock, Error, Kind, Ranges};
use crate::store::{Key, Store, Stored};

fn deployment_key(namespace: &str, name: &str) -> Key {
    Kind::of("Deployment").key(namespace, name)
}

/// The Deployment and its ReplicaSets by revision (ascending).
async fn revisions(
    store: &dyn Store,
    key: &Key,
) -> Result<(Stored, Vec<(i64, ReplicaSet)>), Error> {
    let Some(stored) = store.get(key).await? else {
        return Err(objects::not_found(key));
    };
    let (sets, _) = store.list("ReplicaSet", Some(&key.namespace)).await?;
    let mut owned: Vec<(i64, ReplicaSet)> = decode_all::<ReplicaSet>(&sets)
        .into_iter()
        .filter(|rs| controller_of(&rs.metadata).is_some_and(|o| o.uid == stored.uid))
        .map(|rs| (history::revision(&rs.metadata), rs))
        .filter(|(revision, _)| *revision > 0)
        .collect();
    owned.sort_by_key(|(revision, _)| *revision);
    Ok((stored, owned))
}

/// The template a ReplicaSet would give back to its Deployment.
fn template_of(rs: &ReplicaSet) -> PodTemplateSpec {
    let mut template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    if let Some(meta) = template.metadata.as_mut() {
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(TEMPLATE_HASH_LABEL);
        }
    }
    template
}

fn list_revisions(sets: &[(i64, ReplicaSet)]) -> String {
    let numbers: Vec<String> = sets.iter().map(|(r, _)| r.to_string()).collect();
    if numbers.is_empty() {
        "none".into()
    } else {
        numbers.join(", ")
    }
}

pub async fn history(
    store: &dyn Store,
    namespace: &str,
    name: &str,
    revision: i64,
) -> Result<Vec<RolloutRevision>, Error> {
    let key = deployment_key(namespace, name);
    let (_, sets) = revisions(store, &key).await?;
    let entry = |(number, rs): &(i64, ReplicaSet), with_template: bool| RolloutRevision {
        revision: *number,
        change_cause: history::annotation(&rs.metadata, CHANGE_CAUSE)
            .unwrap_or_default()
            .to_string(),
        replica_set: rs.metadata.name.clone().unwrap_or_default(),
        template_json: if with_template {
            serde_json::to_vec(&template_of(rs)).unwrap_or_default()
        } else {
            Vec::new()
        },
    };
    if revision == 0 {
        return Ok(sets.iter().map(|s| entry(s, false)).collect());
    }
    match sets.iter().find(|(r, _)| *r == revision) {
        Some(found) => Ok(vec![entry(found, true)]),
        None => Err(Error::NotFound(format!(
            "unable to find the specified revision {revision} of deployment {name:?}; revisions: {}",
            list_revisions(&sets)
        ))),
    }
}

pub struct Undone {
    pub object: WireObject,
    pub skipped: bool,
    pub revision: i64,
}

pub async fn undo(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    namespace: &str,
    name: &str,
    to_revision: i64,
) -> Result<Undone, Error> {
    if to_revision < 0 {
        return Err(Error::Invalid(format!(
            "--to-revision {to_revision}: a revision is a positive number"
        )));
    }
    let key = deployment_key(namespace, name);
    let (stored, sets) = revisions(store, &key).await?;
    let current: Value = objects::parse(&stored)?;
    if current.pointer("/spec/paused") == Some(&Value::Bool(true)) {
        return Err(Error::FailedPrecondition(format!(
            "you cannot rollback a paused deployment; resume it first with \
             'skiff rollout resume deployment/{name}' and try again"
        )));
    }
    let target = if to_revision == 0 {
        let current_revision = current
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(history::REVISION))
            .and_then(Value::as_str)
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0);
        sets.iter()
            .rev()
            .find(|(r, _)| *r != current_revision)
            .ok_or_else(|| {
                Error::FailedPrecondition(format!(
                    "no previous revision of deployment {name:?} to roll back to"
                ))
            })?
    } else {
        sets.iter().find(|(r, _)| *r == to_revision).ok_or_else(|| {
            Error::NotFound(format!(
                "unable to find the specified revision {to_revision} of deployment {name:?}; revisions: {}",
                list_revisions(&sets)
            ))
        })?
    };
    let (revision, rs) = target;
    let template = template_of(rs);
    let cause = history::annotation(&rs.metadata, CHANGE_CAUSE).map(str::to_string);
    let mut skipped = false;
    let object = edit(store, clock, ranges, &key, None, |value, _| {
        let now: PodTemplateSpec =
            serde_json::from_value(value["spec"]["template"].clone()).unwrap_or_default();
        if equal_ignoring_hash(&now, &template) {
            skipped = true;
            return Ok(false);
        }
        value["spec"]["template"] = serde_json::to_value(&template).expect("serializes");
        let annotations = objects::metadata_mut(value)
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(annotations) = annotations.as_object_mut() {
            match &cause {
                Some(cause) => {
                    annotations.insert(CHANGE_CAUSE.into(), Value::String(cause.clone()));
                }
                None => {
                    annotations.remove(CHANGE_CAUSE);
                }
            }
        }
        Ok(true)
    })
    .await?;
    info!(deployment = %key, revision, skipped, "rolled back");
    Ok(Undone {
        object,
        skipped,
        revision: *revision,
    })
}

pub async fn pause(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    namespace: &str,
    name: &str,
    paused: bool,
) -> Result<WireObject, Error> {
    let key = deployment_key(namespace, name);
    let object = edit(store, clock, ranges, &key, None, |value, _| {
        let now = value.pointer("/spec/paused") == Some(&Value::Bool(true));
        match (now, paused) {
            (true, true) => Err(Error::FailedPrecondition(format!(
                "deployments.apps {name:?} is already paused"
            ))),
            (false, false) => Err(Error::FailedPrecondition(format!(
                "deployments.apps {name:?} is not paused"
            ))),
            (_, true) => {
                value["spec"]["paused"] = Value::Bool(true);
                Ok(true)
            }
            (_, false) => {
                if let Some(spec) = value["spec"].as_object_mut() {
                    spec.remove("paused");
                }
                Ok(true)
            }
        }
    })
    .await?;
    info!(deployment = %key, paused, "rollout paused or resumed");
    Ok(object)
}
