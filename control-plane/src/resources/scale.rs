//! Scale and SetImage: edits of a workload's spec, through the write pipeline every
//! update takes (`write.rs`). A conflict starts over from a fresh read, unless the caller
//! pinned a resourceVersion, which then must still be current.

use std::collections::HashMap;

use super::served::Object as WireObject;
use serde_json::Value;
use tracing::info;

use super::objects;
use super::write::edit;
use crate::core::{Clock, Error, Kind, Ranges};
use crate::store::Store;

/// Kinds `scale` accepts.
const SCALABLE: &[&str] = &["Deployment", "ReplicaSet", "StatefulSet"];

/// Sets `spec.replicas` of a Deployment, ReplicaSet or StatefulSet.
// The request's fields plus the write pipeline's clock and ranges, as the other verbs.
#[allow(clippy::too_many_arguments)]
pub async fn scale(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
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
    let object = edit(store, clock, ranges, &key, precondition, |value, _| {
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
    clock: &dyn Clock,
    ranges: &Ranges,
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
    let object = edit(store, clock, ranges, &key, None, |value, _| {
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
