//! What the API server does for storage objects besides validation
//! (docs/architecture.md, Storage): the default StorageClass made at first start, the
//! admission of new claims and volumes (the default class, as Kubernetes'
//! DefaultStorageClass admission; the protection finalizers), and a claim's update rules.

use serde_json::{json, Value};
use skiff_proto::storage::{
    DEFAULT_CLASS, IS_DEFAULT_CLASS, LOCAL_PATH_PROVISIONER, PVC_PROTECTION, PV_PROTECTION,
};
use tracing::info;

use super::objects;
use crate::core::{Clock, Error};
use crate::store::{Key, Store, StoreError};

/// Makes the `local-path` StorageClass, marked default, unless it exists (a user's edit
/// of it is kept).
pub async fn bootstrap(store: &dyn Store, clock: &dyn Clock) -> Result<(), Error> {
    let uid = crate::core::ids::new_uid();
    let value = json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": DEFAULT_CLASS,
            "uid": uid,
            "creationTimestamp": clock.now_seconds().to_string(),
            "annotations": {IS_DEFAULT_CLASS: "true"},
        },
        "provisioner": LOCAL_PATH_PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    });
    let key = Key::new("StorageClass", "", DEFAULT_CLASS);
    match store.create(key, uid, objects::to_bytes(&value)).await {
        Ok(_) => {
            info!(class = DEFAULT_CLASS, "default storage class created");
            Ok(())
        }
        Err(StoreError::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The admission of a new claim or volume: a claim that names no class (the field
/// absent, not `""`) gets the default class, if one is marked; both get their
/// protection finalizer.
pub async fn admit_create(store: &dyn Store, key: &Key, value: &mut Value) -> Result<(), Error> {
    let finalizer = match key.kind.as_str() {
        "PersistentVolumeClaim" => PVC_PROTECTION,
        "PersistentVolume" => PV_PROTECTION,
        _ => return Ok(()),
    };
    if key.kind == "PersistentVolumeClaim" && value.pointer("/spec/storageClassName").is_none() {
        if let Some(class) = default_class(store).await? {
            value["spec"]["storageClassName"] = Value::String(class);
        }
    }
    let finalizers = objects::metadata_mut(value)
        .entry("finalizers")
        .or_insert_with(|| json!([]));
    if let Some(list) = finalizers.as_array_mut() {
        if !list.iter().any(|f| f == finalizer) {
            list.push(Value::String(finalizer.into()));
        }
    }
    Ok(())
}

/// The name of the class marked default (the newest, if several are, as Kubernetes).
async fn default_class(store: &dyn Store) -> Result<Option<String>, Error> {
    let (classes, _) = store.list("StorageClass", None).await?;
    let mut marked: Vec<(String, String)> = classes
        .iter()
        .filter_map(|stored| objects::parse(stored).ok())
        .filter(|c| {
            c.pointer(&format!(
                "/metadata/annotations/{}",
                IS_DEFAULT_CLASS.replace('/', "~1")
            )) == Some(&json!("true"))
        })
        .map(|c| {
            let created = c
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let name = c
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (created, name)
        })
        .collect();
    marked.sort();
    Ok(marked.pop().map(|(_, name)| name))
}

/// A claim's spec may not change after creation, except that a bound claim's storage
/// request may grow and an unset `volumeName` may be set (Kubernetes' update rules).
pub fn check_claim_update(name: &str, old: &Value, new: &Value) -> Result<(), String> {
    let request = |spec: &Value| {
        spec.pointer("/resources/requests/storage")
            .and_then(Value::as_str)
            .and_then(|q| skiff_proto::model::parse_quantity(q).ok())
            .unwrap_or(0)
    };
    let bound = old
        .get("volumeName")
        .and_then(Value::as_str)
        .is_some_and(|v| !v.is_empty());
    let invalid = |detail: &str| format!("PersistentVolumeClaim {name:?} is invalid: {detail}");
    if bound && request(new) < request(old) {
        return Err(invalid(
            "spec.resources.requests.storage: Forbidden: field can not be less than previous value",
        ));
    }
    let comparable = |spec: &Value| {
        let mut spec = spec.clone();
        if let Some(fields) = spec.as_object_mut() {
            if bound {
                fields.remove("resources");
            }
            if !bound {
                fields.remove("volumeName");
            }
        }
        spec
    };
    if comparable(old) != comparable(new) {
        return Err(invalid(
            "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ));
    }
    Ok(())
}
