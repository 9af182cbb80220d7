//! Namespaces: the two made at first start, and deletion, which takes everything in the
//! namespace with it.
//!
//! Deletion goes as in Kubernetes: the namespace is first marked `Terminating` (apply
//! then refuses new objects in it), then every object of every namespaced kind in it is
//! deleted, then the namespace itself. A crash in between leaves it `Terminating`;
//! [`bootstrap`] at the next start (or deleting it again) finishes the job.

use super::served::Object as WireObject;
use serde_json::{json, Value};
use tracing::{info, warn};

use super::objects;
use crate::core::kinds::SYSTEM_NAMESPACES;
use crate::core::Kind;
use crate::core::{Clock, Error};
use crate::store::{modify_stored, Edit, Key, Modified, Store, StoreError};

/// The label Kubernetes puts on every namespace, so selectors can pick namespaces by name.
const NAME_LABEL: &str = "kubernetes.io/metadata.name";

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

/// Kubernetes' refusal of new objects in a namespace being deleted.
pub fn terminating(namespace: &str) -> Error {
    Error::FailedPrecondition(format!(
        "unable to create new content in namespace {namespace} because it is being terminated"
    ))
}

/// What the server sets on a new Namespace: phase Active and the name label.
pub fn initialise(value: &mut Value, name: &str) {
    value["status"] = json!({"phase": "Active"});
    let meta = objects::metadata_mut(value);
    let labels = meta
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    labels[NAME_LABEL] = Value::String(name.to_string());
}

/// Makes the system namespaces if they are missing and finishes deletions a crash
/// interrupted. Run once at start, before serving.
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
    let (namespaces, _) = store.list("Namespace", None).await?;
    for stored in namespaces {
        if state_of(&objects::parse(&stored)?) == NamespaceState::Terminating {
            warn!(namespace = %stored.key.name, "finishing an interrupted namespace deletion");
            delete(store, clock, &stored.key.name).await?;
        }
    }
    Ok(())
}

/// Deletes a namespace and everything in it; returns the namespace's last state.
pub async fn delete(store: &dyn Store, clock: &dyn Clock, name: &str) -> Result<WireObject, Error> {
    if SYSTEM_NAMESPACES.contains(&name) {
        return Err(Error::FailedPrecondition(format!(
            "namespace {name:?} may not be deleted: it is a system namespace"
        )));
    }
    mark_terminating(store, clock, name).await?;
    let mut deleted = 0_usize;
    for kind in Kind::namespaced_kinds() {
        let (items, _) = store.list(kind.name, Some(name)).await?;
        for item in items {
            match store.delete(&item.key, None).await {
                Ok(_) => deleted += 1,
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let last = match store.delete(&key(name), None).await {
        Ok(last) => last,
        Err(StoreError::NotFound(k)) => return Err(objects::not_found(&k)),
        Err(e) => return Err(e.into()),
    };
    info!(namespace = name, objects = deleted, "namespace deleted");
    objects::serve(&last)
}

/// Sets `status.phase: Terminating` and `deletionTimestamp`, unless already set.
async fn mark_terminating(store: &dyn Store, clock: &dyn Clock, name: &str) -> Result<(), Error> {
    let key = key(name);
    let marked = modify_stored(
        store,
        &key,
        None,
        |stored| {
            let mut value = objects::parse(stored)?;
            if state_of(&value) == NamespaceState::Terminating {
                return Ok(Edit::Keep(()));
            }
            value["status"] = json!({"phase": "Terminating"});
            objects::metadata_mut(&mut value).insert(
                "deletionTimestamp".into(),
                Value::String(clock.now_seconds().to_string()),
            );
            Ok(Edit::Write(objects::to_bytes(&value), ()))
        },
        || {
            Error::Conflict(format!(
                "{key} kept changing while being marked for deletion"
            ))
        },
    )
    .await?;
    match marked {
        Modified::Missing => Err(objects::not_found(&key)),
        Modified::Written(_) | Modified::Unchanged(_) => Ok(()),
    }
}
