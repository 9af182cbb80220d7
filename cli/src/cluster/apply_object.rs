//! Client-side apply of one manifest object, as kubectl does it: the object is created
//! with the manifest as its `last-applied-configuration` annotation, or the stored one is
//! merged with the manifest against the previous one (`skiff_proto::last_applied`) and
//! written back on the resourceVersion read ("configured"), or left alone when the merge
//! changes nothing ("unchanged").

use anyhow::{bail, Context};
use serde_json::Value;
use skiff_proto::last_applied::{
    drop_allocated_node_ports, three_way, without_server_fields, LAST_APPLIED,
};
use skiff_proto::model::{default_object, generate_job_selector, validate_object, Object};

use super::Api;
use crate::kinds::{self, Kind};

/// Attempts when other writers change the object between our read and our write.
const CONFLICT_RETRIES: usize = 5;

/// One manifest object, decoded, defaulted and validated, ready to be written.
pub struct Prepared {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// The manifest as the user wrote it (namespace filled in): what the annotation records.
    user: Value,
    /// `metadata.resourceVersion` from the manifest: update only if still at it.
    precondition: Option<String>,
}

/// Checks one decoded object as the server will (defaults, then validation), so that a
/// bad document anywhere in the manifests writes nothing.
pub fn prepare(
    source: &str,
    mut object: Object,
    namespace: Option<&str>,
) -> anyhow::Result<Prepared> {
    let kind = kinds::from_manifest_kind(object.kind())
        .with_context(|| format!("{source}: the server does not serve {}", object.kind()))?;
    if kind.namespaced {
        let own = object.namespace().to_string();
        match (own.as_str(), namespace) {
            ("", requested) => {
                let ns = requested.filter(|n| !n.is_empty()).unwrap_or("default");
                object.metadata_mut().namespace = Some(ns.to_string());
            }
            (own, requested) if requested.is_none_or(|r| r.is_empty() || r == own) => {}
            (own, Some(requested)) => bail!(
                "{source}: the namespace from the provided object {own:?} does not match \
                 the namespace {requested:?}: leave -n out, or pass -n {own}"
            ),
            _ => unreachable!("the guard above takes a missing -n"),
        }
    }
    let precondition = object
        .metadata()
        .resource_version
        .clone()
        .filter(|rv| !rv.is_empty());
    let user = without_server_fields(object.to_json_value());
    let (kind_name, name) = (object.kind(), object.name().to_string());
    if name.is_empty() {
        bail!("{source}: {kind_name}: metadata.name is required (apply cannot use generateName)");
    }
    let mut defaulted = object.clone();
    default_object(&mut defaulted);
    let is_job = matches!(defaulted, Object::Job(_));
    if let Object::Job(job) = &mut defaulted {
        // The server generates a new Job's selector from its uid; any uid checks the rest.
        job.metadata.uid = Some("00000000-0000-0000-0000-000000000000".into());
        generate_job_selector(job);
    }
    // A Job judged invalid here may still be a valid update of a stored one: the server
    // decides that on the merged object.
    if let Err(e) = validate_object(&defaulted) {
        if !is_job {
            bail!("{source}: {kind_name} {name:?} is invalid: {e}");
        }
    }
    Ok(Prepared {
        namespace: object.namespace().to_string(),
        kind,
        name,
        user,
        precondition,
    })
}

/// Creates, configures or leaves the object; kubectl's word for what happened.
pub async fn write(api: &Api, object: &Prepared) -> anyhow::Result<&'static str> {
    let (kind, ns, name) = (
        &object.kind,
        object.namespace.as_str(),
        object.name.as_str(),
    );
    for _ in 0..CONFLICT_RETRIES {
        let Some(stored) = api.get_opt(kind, ns, name).await? else {
            if object.precondition.is_some() {
                bail!("{name}: resourceVersion should not be set on objects to be created");
            }
            let mut new = object.user.clone();
            annotate(&mut new, &object.user);
            match api.create(kind, ns, &new).await {
                Ok(_) => return Ok("created"),
                Err(e) if e.code() == 409 && e.reason() == "AlreadyExists" => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let merged = merged(object, &stored);
        if normalised(&merged) == normalised(&stored) {
            return Ok("unchanged");
        }
        let mut body = merged;
        let version = match &object.precondition {
            Some(pinned) => Value::String(pinned.clone()),
            None => stored["metadata"]["resourceVersion"].clone(),
        };
        body["metadata"]["resourceVersion"] = version;
        match api.replace(kind, ns, name, &body).await {
            Ok(_) => return Ok("configured"),
            Err(e) if e.is_conflict() && object.precondition.is_none() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!(
        "{} {name:?} kept changing while it was being applied; apply again",
        kind.qualified_plural()
    )
}

/// The stored object with the manifest merged in and the annotation updated.
fn merged(object: &Prepared, stored: &Value) -> Value {
    let last: Option<Value> = stored
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok());
    let mut merged = stored.clone();
    if let Some(meta) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    three_way(&mut merged, last.as_ref(), &object.user);
    annotate(&mut merged, &object.user);
    drop_allocated_node_ports(object.kind.kind, &object.user, &mut merged);
    merged
}

fn annotate(object: &mut Value, user: &Value) {
    let metadata = &mut object["metadata"];
    if !metadata.get("annotations").is_some_and(Value::is_object) {
        metadata["annotations"] = Value::Object(Default::default());
    }
    metadata["annotations"][LAST_APPLIED] = Value::String(user.to_string());
}

/// The object as the server would keep it (defaults filled), without its version, so
/// that "unchanged" does not depend on how the stored JSON was spelled.
fn normalised(value: &Value) -> Value {
    let mut value = match Object::from_json(&value.to_string()) {
        Ok(mut object) => {
            default_object(&mut object);
            object.to_json_value()
        }
        Err(_) => value.clone(),
    };
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
    }
    value
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use skiff_proto::model::decode_documents;

    use super::*;

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: nginx\n";

    fn prepared(text: &str, namespace: Option<&str>) -> anyhow::Result<Prepared> {
        let object = decode_documents("t.yaml", text)?.remove(0);
        prepare("t.yaml", object, namespace)
    }

    #[test]
    fn the_namespace_comes_from_the_manifest_or_the_flag() {
        assert_eq!(prepared(POD, None).unwrap().namespace, "default");
        assert_eq!(prepared(POD, Some("team")).unwrap().namespace, "team");
        let pinned = POD.replace("name: web\n", "name: web\n  namespace: a\n");
        let err = prepared(&pinned, Some("b")).err().unwrap();
        assert!(
            err.to_string()
                .contains("does not match the namespace \"b\""),
            "{err}"
        );
    }

    #[test]
    fn an_invalid_object_is_refused_before_anything_is_written() {
        let bad = POD.replace("name: web", "name: Web_");
        let err = prepared(&bad, None).err().unwrap();
        assert!(
            err.to_string()
                .starts_with("t.yaml: Pod \"Web_\" is invalid"),
            "{err}"
        );
    }

    #[test]
    fn reapplying_the_same_manifest_changes_nothing() {
        let object = prepared(POD, None).unwrap();
        let mut stored = object.user.clone();
        annotate(&mut stored, &object.user);
        stored["metadata"]["uid"] = json!("u1");
        stored["metadata"]["resourceVersion"] = json!("7");
        stored["spec"]["nodeName"] = json!("n1");
        stored["status"] = json!({"phase": "Running"});
        let merged = merged(&object, &stored);
        assert_eq!(normalised(&merged), normalised(&stored));
        let changed = prepared(&POD.replace("image: nginx", "image: nginx:2"), None).unwrap();
        let merged = super::merged(&changed, &stored);
        assert_ne!(normalised(&merged), normalised(&stored));
        assert_eq!(merged["spec"]["nodeName"], "n1");
    }
}
