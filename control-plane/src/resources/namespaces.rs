//! Namespaces: the two made at first start, the `kubernetes` finalizer every namespace
//! gets, the refusal of new content in a namespace being deleted, and the delete verb.
//!
//! Deletion goes as in Kubernetes: a DELETE only marks the namespace (`deletionTimestamp`,
//! phase `Terminating`; admission then refuses new objects in it) and the namespace
//! controller (`controllers/namespaces/`) deletes its content through the finalizer-aware
//! delete, reports what remains in the namespace's conditions, and removes the
//! `kubernetes` finalizer from `spec.finalizers` once nothing is left; the namespace goes
//! when no finalizer of either list remains. A crash in between leaves it `Terminating`;
//! the controller's resync at start carries on.

use super::served::Object as WireObject;
use serde_json::{json, Value};
use tracing::info;

use super::{finalizers, objects};
use crate::core::kinds::SYSTEM_NAMESPACES;
use crate::core::{Clock, Error};
use crate::store::{read_decide_write, Done, Key, Step, Store, StoreError, Stored};

/// The label Kubernetes puts on every namespace, so selectors can pick namespaces by name.
const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The namespace controller's finalizer in `spec.finalizers`: removed once the
/// namespace's content is gone.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceState {
    Active,
    Terminating,
}

fn key(name: &str) -> Key {
    Key::new("Namespace", "", name)
}

/// The namespace's state, `None` when it does not exist.
pub async fn state(store: &dyn Store, name: &str) -> Result<Option<NamespaceState>, Error> {
    let Some(stored) = store.get(&key(name)).await? else {
        return Ok(None);
    };
    let value = objects::parse(&stored)?;
    Ok(Some(state_of(&value)))
}

fn state_of(value: &Value) -> NamespaceState {
    match value.pointer("/status/phase").and_then(Value::as_str) {
        Some("Terminating") => NamespaceState::Terminating,
        _ => NamespaceState::Active,
    }
}

/// Kubernetes' refusal (namespace lifecycle admission, 403) of a new object `key` in a
/// namespace being deleted.
pub fn terminating(key: &Key) -> Error {
    Error::PermissionDenied(format!(
        "{} {:?} is forbidden: unable to create new content in namespace {} because it is being terminated",
        objects::qualified_resource(&key.kind),
        key.name,
        key.namespace
    ))
}

/// What the server sets on a new Namespace: phase Active, the name label and the
/// `kubernetes` finalizer.
pub fn initialise(value: &mut Value, name: &str) {
    value["status"] = json!({"phase": "Active"});
    add_kubernetes_finalizer(value);
    let meta = objects::metadata_mut(value);
    let labels = meta
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    labels[NAME_LABEL] = Value::String(name.to_string());
}

/// The namespace's `spec.finalizers`.
pub fn spec_finalizers(value: &Value) -> Vec<String> {
    value
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn add_kubernetes_finalizer(value: &mut Value) -> bool {
    let mut list = spec_finalizers(value);
    if list.iter().any(|f| f == KUBERNETES_FINALIZER) {
        return false;
    }
    list.push(KUBERNETES_FINALIZER.into());
    if !value.get("spec").is_some_and(Value::is_object) {
        value["spec"] = json!({});
    }
    value["spec"]["finalizers"] = Value::from(list);
    true
}

/// An update keeps `spec.finalizers` as stored: only the namespace controller changes
/// them (kube-apiserver's namespace strategy).
pub fn keep_spec_finalizers(baseline: &Value, value: &mut Value) {
    match baseline.pointer("/spec/finalizers") {
        Some(kept) => {
            if !value.get("spec").is_some_and(Value::is_object) {
                value["spec"] = json!({});
            }
            value["spec"]["finalizers"] = kept.clone();
        }
        None => {
            if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("finalizers");
            }
        }
    }
}

/// Makes the system namespaces if they are missing. Run once at start, before serving.
pub async fn bootstrap(store: &dyn Store, clock: &dyn Clock) -> Result<(), Error> {
    for name in SYSTEM_NAMESPACES {
        let mut value = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "uid": crate::core::ids::new_uid(), "creationTimestamp": clock.now_seconds().to_string()},
        });
        initialise(&mut value, name);
        let uid = value["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match store
            .create(key(name), uid, objects::to_bytes(&value))
            .await
        {
            Ok(_) => info!(namespace = name, "namespace created"),
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A namespace's DELETE: marks it (`deletionTimestamp`, phase `Terminating`, the
/// `kubernetes` finalizer) for the namespace controller and returns it as marked; one
/// already marked is returned as it is.
pub async fn delete(store: &dyn Store, clock: &dyn Clock, name: &str) -> Result<WireObject, Error> {
    if SYSTEM_NAMESPACES.contains(&name) {
        return Err(Error::PermissionDenied(format!(
            "namespaces {name:?} is forbidden: this namespace may not be deleted"
        )));
    }
    let key = key(name);
    let done = read_decide_write(
        store,
        &key,
        |current: Option<&Stored>| {
            let stored = current.ok_or_else(|| objects::not_found(&key))?;
            let mut value = objects::parse(stored)?;
            if finalizers::is_deleting(&value) {
                return Ok(Step::Keep(Marking::Already(objects::serve_value(
                    stored, value,
                ))));
            }
            value["status"]["phase"] = Value::from("Terminating");
            add_kubernetes_finalizer(&mut value);
            objects::metadata_mut(&mut value).insert(
                "deletionTimestamp".into(),
                Value::String(clock.now_seconds().to_string()),
            );
            Ok(Step::Update {
                bytes: objects::to_bytes(&value),
                then: Marking::Now(value),
            })
        },
        || {
            Error::Conflict(format!(
                "{key} kept changing while it was marked for deletion"
            ))
        },
    )
    .await?;
    Ok(match done {
        Done::Kept(Marking::Already(served)) => served,
        Done::Written(Marking::Now(value), written) => {
            info!(namespace = name, "namespace marked for deletion");
            objects::serve_value(&written, value)
        }
        _ => unreachable!("each step hands back its own outcome"),
    })
}

/// What a namespace's DELETE found: marked already, or marked by it.
enum Marking {
    Already(WireObject),
    Now(Value),
}
