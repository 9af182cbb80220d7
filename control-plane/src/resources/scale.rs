//! Scale and SetImage: edits of a workload's spec, and the read-modify-write they (and
//! the rollout methods) share.
//!
//! Every edit is optimistic: read, change, validate the whole object as apply would,
//! write with compare-and-swap on the revision read; a conflict starts over from a fresh
//! read, unless the caller pinned a resourceVersion, which then must still be current.
//! A change to `spec` bumps `metadata.generation`, which the controllers report back as
//! `status.observedGeneration`.

use std::collections::HashMap;

use serde_json::Value;
use skiff_proto::model::{default_object, validate_object, Object};
use skiff_proto::v1::Object as WireObject;
use tracing::info;

use super::objects;
use crate::core::Error;
use crate::core::Kind;
use crate::store::{Key, Store, StoreError, Stored};

/// Attempts at a read-modify-write while controllers write the same object.
const CONFLICT_RETRIES: usize = 5;

/// Kinds `scale` accepts.
const SCALABLE: &[&str] = &["Deployment", "ReplicaSet", "StatefulSet"];

/// Reads `key`, lets `change` edit its JSON (returning whether it changed anything, or
/// why it refuses), validates and writes it. `precondition`: the revision it must be at.
pub(crate) async fn edit(
    store: &dyn Store,
    key: &Key,
    precondition: Option<i64>,
    mut change: impl FnMut(&mut Value, &Stored) -> Result<bool, Error>,
) -> Result<WireObject, Error> {
    for _ in 0..CONFLICT_RETRIES {
        let Some(stored) = store.get(key).await? else {
            return Err(objects::not_found(key));
        };
        if let Some(expected) = precondition.filter(|rv| *rv != stored.revision) {
            return Err(StoreError::Conflict {
                key: key.clone(),
                expected,
                actual: stored.revision,
            }
            .into());
        }
        let mut value = objects::parse(&stored)?;
        let before = value.get("spec").cloned();
        if !change(&mut value, &stored)? {
            return objects::serve(&stored);
        }
        let mut typed = Object::from_json(&value.to_string())
            .map_err(|e| Error::Invalid(format!("{key}: {}: {}", e.path, e.message)))?;
        default_object(&mut typed);
        validate_object(&typed)
            .map_err(|e| Error::Invalid(format!("{} {:?} is invalid: {e}", key.kind, key.name)))?;
        let mut value = typed.to_json_value();
        if value.get("spec") != before.as_ref() {
            let generation = value
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            objects::metadata_mut(&mut value)
                .insert("generation".into(), Value::from(generation + 1));
        }
        match store
            .update(
                key.clone(),
                objects::to_bytes(&value),
                Some(stored.revision),
            )
            .await
        {
            Ok(written) => return Ok(objects::serve_value(&written, value)),
            Err(StoreError::Conflict { .. }) if precondition.is_none() => continue,
            Err(StoreError::NotFound(_)) => return Err(objects::not_found(key)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(format!(
        "{key} kept changing while it was being edited; try again"
    )))
}

/// Sets `spec.replicas` of a Deployment, ReplicaSet or StatefulSet.
pub async fn scale(
    store: &dyn Store,
    kind: &str,
    namespace: &str,
    name: &str,
    replicas: i32,
    resource_version: &str,
) -> Result<WireObject, Error> {
    let kind = Kind::resolve(kind)?;
    if !SCALABLE.contains(&kind.name) {
        return Err(Error::Invalid(format!(
            "{} cannot be scaled (scalable kinds: {})",
            kind.name,
            SCALABLE.join(", ")
        )));
    }
    if replicas < 0 {
        return Err(Error::Invalid(format!(
            "spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
        )));
    }
    let precondition = objects::parse_revision(resource_version)?;
    let key = kind.key(namespace, name);
    let object = edit(store, &key, precondition, |value, _| {
        if value.pointer("/spec/replicas").and_then(Value::as_i64) == Some(i64::from(replicas)) {
            return Ok(false);
        }
        value["spec"]["replicas"] = Value::from(replicas);
        Ok(true)
    })
    .await?;
    info!(object = %key, replicas, "scaled");
    Ok(object)
}

/// Sets container images of a workload's pod template (or a pod's): `images` maps a
/// container name, or `*` for all of them, to the image.
pub async fn set_image(
    store: &dyn Store,
    kind: &str,
    namespace: &str,
    name: &str,
    images: &HashMap<String, String>,
) -> Result<WireObject, Error> {
    let kind = Kind::resolve(kind)?;
    if images.is_empty() {
        return Err(Error::Invalid(
            "at least one CONTAINER=IMAGE is required".into(),
        ));
    }
    if let Some((container, _)) = images.iter().find(|(_, image)| image.trim().is_empty()) {
        return Err(Error::Invalid(format!(
            "the image for container {container:?} is empty"
        )));
    }
    let spec_path = match kind.name {
        "Pod" => "/spec",
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" => "/spec/template/spec",
        "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        other => {
            return Err(Error::Invalid(format!(
                "{other} has no containers to set images of"
            )))
        }
    };
    let key = kind.key(namespace, name);
    let object = edit(store, &key, None, |value, _| {
        let spec = value
            .pointer_mut(spec_path)
            .ok_or_else(|| Error::Invalid(format!("{key} has no pod template")))?;
        let mut found: Vec<&str> = Vec::new();
        let mut changed = false;
        for list in ["initContainers", "containers"] {
            for container in spec[list].as_array_mut().into_iter().flatten() {
                let container_name = container["name"].as_str().unwrap_or_default().to_string();
                let image = images.get(&container_name).or_else(|| images.get("*"));
                if let Some(image) = image {
                    if let Some((k, _)) = images.get_key_value(&container_name) {
                        found.push(k);
                    }
                    if container["image"].as_str() != Some(image) {
                        container["image"] = Value::String(image.clone());
                        changed = true;
                    }
                }
            }
        }
        if let Some(missing) = images
            .keys()
            .find(|c| c.as_str() != "*" && !found.contains(&c.as_str()))
        {
            return Err(Error::NotFound(format!(
                "unable to find container named {missing:?} in {} {:?}",
                key.kind, key.name
            )));
        }
        Ok(changed)
    })
    .await?;
    info!(object = %key, "images set");
    Ok(object)
}
