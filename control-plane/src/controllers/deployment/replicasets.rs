//! A Deployment's ReplicaSets: claiming them (adopt orphans that match, release those
//! that no longer do), finding or creating the one for the current template, scaling.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use skiff_proto::model::selector_matches;
use tracing::info;

use crate::controllers::ControllerContext;
use crate::core::objects::revisions::{
    self as history, CHANGE_CAUSE, DESIRED_REPLICAS, MAX_REPLICAS, REVISION,
};
use crate::core::objects::template_hash::{
    equal_ignoring_hash, template_hash, TEMPLATE_HASH_LABEL,
};
use crate::core::objects::{self, controller_of, controller_ref, is_being_deleted, labels};
use crate::core::Error;
use crate::store::{Key, Store, StoreError};

/// The ReplicaSet's `spec.replicas` (1 when unset, as the API defaults it).
pub fn replicas_of(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_key(rs: &ReplicaSet) -> Key {
    Key::new(
        "ReplicaSet",
        rs.metadata.namespace.clone().unwrap_or_default(),
        rs.metadata.name.clone().unwrap_or_default(),
    )
}

/// The ReplicaSets the Deployment owns after adopting and releasing.
pub async fn claim(
    store: &dyn Store,
    deployment: &Deployment,
    sets: Vec<ReplicaSet>,
) -> Result<Vec<ReplicaSet>, Error> {
    let uid = deployment.metadata.uid.clone().unwrap_or_default();
    let selector = deployment.spec.clone().unwrap_or_default().selector;
    if skiff_proto::model::selector_is_empty(&selector) {
        return Ok(Vec::new());
    }
    let mut owned = Vec::new();
    for rs in sets {
        let matches = selector_matches(&selector, &labels(&rs.metadata));
        let key = rs_key(&rs);
        let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
        match controller_of(&rs.metadata) {
            Some(owner) if owner.uid == uid => {
                if matches {
                    owned.push(rs);
                } else {
                    objects::modify_if::<ReplicaSet, _>(store, &key, &rs_uid, |r| {
                        objects::remove_owner(&mut r.metadata, &uid)
                    })
                    .await?;
                    info!(replicaset = %key, "released: its labels no longer match the selector");
                }
            }
            Some(_) => {}
            None if matches
                && !is_being_deleted(&deployment.metadata)
                && !is_being_deleted(&rs.metadata) =>
            {
                let adopted = objects::modify_if::<ReplicaSet, _>(store, &key, &rs_uid, |r| {
                    if controller_of(&r.metadata).is_some() {
                        return false;
                    }
                    r.metadata
                        .owner_references
                        .get_or_insert_with(Vec::new)
                        .push(controller_ref("Deployment", &deployment.metadata));
                    true
                })
                .await?;
                if let Some(rs) =
                    adopted.filter(|r| controller_of(&r.metadata).is_some_and(|o| o.uid == uid))
                {
                    info!(replicaset = %key, "adopted");
                    owned.push(rs);
                }
            }
            None => {}
        }
    }
    Ok(owned)
}

/// The owned ReplicaSet whose template is the Deployment's (the oldest, if several).
pub fn find_new<'a>(deployment: &Deployment, owned: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    let template = &deployment.spec.as_ref()?.template;
    owned
        .iter()
        .filter(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignoring_hash(t, template))
        })
        .min_by_key(|rs| objects::created(&rs.metadata))
}

/// What happened when the new ReplicaSet was wanted.
pub enum NewReplicaSet {
    Created(Box<ReplicaSet>),
    /// The name its hash gives is taken by another template: the collision count goes up
    /// and the next reconcile tries the next name.
    Collision,
}

/// Creates the ReplicaSet for the Deployment's template with `replicas`, as revision
/// `revision`.
pub async fn create_new(
    store: &dyn Store,
    deployment: &Deployment,
    replicas: i32,
    revision: i64,
    max_surge: i32,
    now: Timestamp,
) -> Result<NewReplicaSet, Error> {
    let spec = deployment.spec.clone().unwrap_or_default();
    let collision_count = deployment.status.as_ref().and_then(|s| s.collision_count);
    let hash = template_hash(&spec.template, collision_count);
    let mut template = spec.template.clone();
    let template_meta = template.metadata.get_or_insert_with(Default::default);
    template_meta
        .labels
        .get_or_insert_with(Default::default)
        .insert(TEMPLATE_HASH_LABEL.into(), hash.clone());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(TEMPLATE_HASH_LABEL.into(), hash.clone());
    let name = format!(
        "{}-{hash}",
        deployment.metadata.name.clone().unwrap_or_default()
    );
    let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
    let mut annotations = copied_annotations(&deployment.metadata);
    annotations.insert(REVISION.into(), revision.to_string());
    annotations.insert(
        DESIRED_REPLICAS.into(),
        spec.replicas.unwrap_or(1).to_string(),
    );
    annotations.insert(
        MAX_REPLICAS.into(),
        (spec.replicas.unwrap_or(1) + max_surge).to_string(),
    );
    let uid = crate::core::ids::new_uid();
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            uid: Some(uid.clone()),
            labels: template_meta.labels.clone(),
            annotations: Some(annotations),
            creation_timestamp: Some(Time(now)),
            generation: Some(1),
            owner_references: Some(vec![controller_ref("Deployment", &deployment.metadata)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    let key = Key::new("ReplicaSet", &namespace, &name);
    match store.create(key.clone(), uid, objects::encode(&rs)).await {
        Ok(stored) => {
            info!(replicaset = %key, revision, replicas, "new replica set created");
            Ok(NewReplicaSet::Created(Box::new(objects::decode(&stored)?)))
        }
        Err(StoreError::AlreadyExists(_)) => Ok(NewReplicaSet::Collision),
        Err(e) => Err(e.into()),
    }
}

/// The Deployment's annotations a ReplicaSet copies (change-cause and the user's own),
/// without the ones the controller or kubectl manage.
fn copied_annotations(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.annotations
        .iter()
        .flatten()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                REVISION | DESIRED_REPLICAS | MAX_REPLICAS | crate::core::annotations::LAST_APPLIED
            ) && !k.starts_with("deployment.kubernetes.io/")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Makes an existing new ReplicaSet the current revision (after an undo its revision is
/// an old one) and gives it the Deployment's change-cause.
pub async fn sync_new(
    store: &dyn Store,
    deployment: &Deployment,
    rs: &ReplicaSet,
    revision: i64,
) -> Result<ReplicaSet, Error> {
    let cause = history::annotation(&deployment.metadata, CHANGE_CAUSE).map(str::to_string);
    let changed = objects::modify_if::<ReplicaSet, _>(
        store,
        &rs_key(rs),
        rs.metadata.uid.as_deref().unwrap_or_default(),
        |r| {
            let mut changed = false;
            if history::revision(&r.metadata) < revision {
                changed |= history::set_annotation(&mut r.metadata, REVISION, revision.to_string());
            }
            if let Some(cause) = &cause {
                changed |= history::set_annotation(&mut r.metadata, CHANGE_CAUSE, cause.clone());
            }
            changed
        },
    )
    .await?;
    Ok(changed.unwrap_or_else(|| rs.clone()))
}

/// Sets a ReplicaSet's replicas (and the annotations recording the Deployment's size).
pub async fn scale(
    store: &dyn Store,
    rs: &ReplicaSet,
    replicas: i32,
    deployment_replicas: i32,
    max_surge: i32,
) -> Result<bool, Error> {
    let current = replicas_of(rs);
    if current == replicas {
        return Ok(false);
    }
    objects::modify_if::<ReplicaSet, _>(
        store,
        &rs_key(rs),
        rs.metadata.uid.as_deref().unwrap_or_default(),
        |r| {
            let spec = r.spec.get_or_insert_with(Default::default);
            if spec.replicas == Some(replicas) {
                return false;
            }
            spec.replicas = Some(replicas);
            r.metadata.generation = Some(r.metadata.generation.unwrap_or(0) + 1);
            history::set_annotation(
                &mut r.metadata,
                DESIRED_REPLICAS,
                deployment_replicas.to_string(),
            );
            history::set_annotation(
                &mut r.metadata,
                MAX_REPLICAS,
                (deployment_replicas + max_surge).to_string(),
            );
            true
        },
    )
    .await?;
    info!(replicaset = %rs_key(rs), from = current, to = replicas, "scaled");
    Ok(true)
}

/// Deletes old ReplicaSets beyond `limit` that have nothing left (no replicas, no pods),
/// lowest revision first. One already being deleted (held by a finalizer) is neither
/// counted nor deleted again, as Kubernetes' cleanup leaves it.
pub async fn cleanup(
    ctx: &ControllerContext,
    olds: &[&ReplicaSet],
    pods_of: impl Fn(&ReplicaSet) -> i32,
    limit: i32,
) -> Result<(), Error> {
    let mut empty: Vec<&&ReplicaSet> = olds
        .iter()
        .filter(|rs| replicas_of(rs) == 0 && pods_of(rs) == 0 && !is_being_deleted(&rs.metadata))
        .collect();
    let excess = empty.len() as i64 - i64::from(limit.max(0));
    if excess <= 0 {
        return Ok(());
    }
    empty.sort_by_key(|rs| history::revision(&rs.metadata));
    for rs in empty.into_iter().take(excess as usize) {
        let uid = rs.metadata.uid.as_deref().unwrap_or_default();
        if crate::controllers::deleted(ctx, &rs_key(rs), uid).await? {
            info!(replicaset = %rs_key(rs), "old replica set deleted (revisionHistoryLimit)");
        }
    }
    Ok(())
}
