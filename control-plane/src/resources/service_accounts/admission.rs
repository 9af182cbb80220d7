//! The admission of a new pod, as kube-apiserver's ServiceAccount admission plugin:
//! `serviceAccountName` defaults to `default` (with `serviceAccount`, its deprecated
//! twin, kept equal), the account must exist, and unless the pod or its account opts out
//! (`automountServiceAccountToken: false`) the pod gets the projected volume
//! `kube-api-access-<5>` (a bound token, the cluster CA, the namespace) mounted read-only
//! at `/var/run/secrets/kubernetes.io/serviceaccount` in every container and init
//! container that has nothing there. Mirror pods may reference no account and get none.

use jiff::Timestamp;
use serde_json::{json, Value};
use tracing::info;

use super::tokens::get;
use super::{DEFAULT_ACCOUNT, ROOT_CA_CONFIGMAP, TOKEN_MOUNT_PATH, VOLUME_PREFIX};
use crate::core::annotations::MIRROR_ANNOTATION;
use crate::core::Error;
use crate::resources::objects;
use crate::store::{Key, Store, StoreError};

/// The token source's lifetime: kube's 3607 s, an hour plus seven seconds by which the
/// API server recognises its own automatic tokens.
const TOKEN_SECONDS: i64 = 3607;

/// Admits `pod` (checked, about to be created as `key`); other kinds pass untouched.
pub async fn admit_pod(
    store: &dyn Store,
    now: Timestamp,
    key: &Key,
    pod: &mut Value,
) -> Result<(), Error> {
    if key.kind != "Pod" {
        return Ok(());
    }
    let forbidden =
        |why: String| Error::PermissionDenied(format!("pods {:?} is forbidden: {why}", key.name));
    if pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MIRROR_ANNOTATION))
        .is_some()
    {
        return check_mirror(pod).map_err(|why| forbidden(why.into()));
    }
    let spec = pod
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::Invalid(format!("Pod {:?} has no spec", key.name)))?;
    let named = |field: &str| {
        spec.get(field)
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(String::from)
    };
    let name = named("serviceAccountName")
        .or_else(|| named("serviceAccount"))
        .unwrap_or_else(|| DEFAULT_ACCOUNT.to_string());
    spec.insert("serviceAccountName".into(), Value::from(name.as_str()));
    spec.insert("serviceAccount".into(), Value::from(name.as_str()));
    let account = match get(store, "ServiceAccount", &key.namespace, &name).await? {
        Some(account) => account,
        // Every namespace gets `default` from the service-account controller, but a pod
        // created right after its namespace may come first; kube's plugin retries for up
        // to two seconds, skiff makes the account here instead, so the pod never fails
        // on that race (the controller then finds it made).
        None if name == DEFAULT_ACCOUNT => {
            ensure_default_account(store, now, &key.namespace).await?
        }
        None => {
            return Err(forbidden(format!(
                "error looking up service account {}/{name}: serviceaccount {name:?} not found",
                key.namespace
            )))
        }
    };
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| account["automountServiceAccountToken"].as_bool())
        .unwrap_or(true);
    if automount {
        mount_token(spec);
    }
    Ok(())
}

/// The `default` account of `namespace`: the stored one, or one made now.
pub async fn ensure_default_account(
    store: &dyn Store,
    now: Timestamp,
    namespace: &str,
) -> Result<Value, Error> {
    let uid = crate::core::ids::new_uid();
    let account = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": DEFAULT_ACCOUNT,
            "namespace": namespace,
            "uid": uid,
            "creationTimestamp": Timestamp::from_second(now.as_second()).unwrap_or(now).to_string(),
        },
    });
    let key = Key::new("ServiceAccount", namespace, DEFAULT_ACCOUNT);
    match store.create(key, uid, objects::to_bytes(&account)).await {
        Ok(_) => {
            info!(namespace, "default service account created");
            Ok(account)
        }
        Err(StoreError::AlreadyExists(_)) => {
            get(store, "ServiceAccount", namespace, DEFAULT_ACCOUNT)
                .await?
                .ok_or_else(|| {
                    Error::Conflict(
                        "service account \"default\" was just deleted; try again".into(),
                    )
                })
        }
        Err(e) => Err(e.into()),
    }
}

/// A mirror pod (a node's static pod) may not use the API's credentials, as kube's
/// plugin refuses them: no account, no token or secret volumes.
fn check_mirror(pod: &Value) -> Result<(), &'static str> {
    let spec = &pod["spec"];
    let named = |field: &str| spec[field].as_str().is_some_and(|n| !n.is_empty());
    if named("serviceAccountName") || named("serviceAccount") {
        return Err("a mirror pod may not reference service accounts");
    }
    let volumes = spec["volumes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for volume in volumes {
        if volume.get("secret").is_some() {
            return Err("a mirror pod may not reference secrets");
        }
        let sources = volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for source in sources {
            if source.get("secret").is_some() {
                return Err("a mirror pod may not reference secrets");
            }
            if source.get("serviceAccountToken").is_some() {
                return Err("a mirror pod may not use ServiceAccountToken volume projections");
            }
        }
    }
    Ok(())
}

/// Adds the token volume (reusing a `kube-api-access-` one the pod has) and its mount to
/// every container and init container without a mount at the token path.
fn mount_token(spec: &mut serde_json::Map<String, Value>) {
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|volumes| {
            volumes
                .iter()
                .filter_map(|v| v["name"].as_str())
                .find(|n| n.starts_with(VOLUME_PREFIX))
                .map(String::from)
        });
    let volume_name = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{}", crate::core::ids::random_suffix()));
    let mut mounted = false;
    for field in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(field).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let mounts = container
                .as_object_mut()
                .map(|c| c.entry("volumeMounts").or_insert_with(|| json!([])));
            let Some(mounts) = mounts.and_then(Value::as_array_mut) else {
                continue;
            };
            if mounts.iter().any(|m| m["mountPath"] == TOKEN_MOUNT_PATH) {
                continue;
            }
            mounts.push(json!({
                "name": volume_name,
                "readOnly": true,
                "mountPath": TOKEN_MOUNT_PATH,
            }));
            mounted = true;
        }
    }
    if mounted && existing.is_none() {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(volumes) = volumes.as_array_mut() {
            volumes.push(token_volume(&volume_name));
        }
    }
}

/// kube's `kube-api-access-` volume.
fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
                {"configMap": {
                    "name": ROOT_CA_CONFIGMAP,
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }},
                {"downwardAPI": {"items": [{
                    "path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                }]}},
            ],
        },
    })
}
