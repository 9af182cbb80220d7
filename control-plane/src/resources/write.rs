//! The one write pipeline of an update, whichever verb made the change (apply's merge,
//! scale, set image, label, rollout undo and pause): default → validate (the whole
//! object, a pod's update rules, a ConfigMap's or Secret's `immutable` and type, a Job's
//! fixed spec) → admission (a Service's ClusterIP and NodePorts; a new pod's service
//! account, `service_accounts/`) → compare-and-swap on
//! the revision read → the object as served.
//!
//! [`edit`] is the read-modify-write the verbs other than apply use; apply merges first
//! and then goes through [`checked`] and [`commit`] like it ([`create`] for a new
//! object). A new object outside apply (a node's mirror pod) passes [`admit_namespace`].

use super::served::Object as WireObject;
use serde_json::Value;
use skiff_proto::model::{
    default_object, validate_config_update, validate_job_update, validate_object,
    validate_role_ref_update, Object, ValidationError,
};
use tracing::info;

use super::allocation::{self, Allocation};
use super::merge;
use super::namespaces::{self, NamespaceState};
use super::objects;
use super::{finalizers, generation};
use crate::core::{Clock, Error, Ranges};
use crate::store::{Key, Store, StoreError, Stored};

/// Attempts at a read-modify-write while controllers write the same object: the store's
/// one limit. (Apply's and [`edit`]'s loops stay their own only because admission, which
/// claims addresses, is async and runs between the read and the write.)
pub(crate) const CONFLICT_RETRIES: usize = crate::store::CAS_ATTEMPTS;

/// Strictly decodes and defaults an object's JSON.
pub(crate) fn normalise(value: &Value) -> Result<Object, skiff_proto::model::DecodeError> {
    let mut object = Object::from_json(&value.to_string())?;
    default_object(&mut object);
    Ok(object)
}

/// `changed` (the stored object after the verb's change) defaulted and validated as a
/// whole, as the API server does with a patch: a default never overrides what is stored.
/// What only the server sets (uid, creationTimestamp, the deletion marks, the
/// generation) stays as stored; no finalizer may be added to an object being deleted
/// (`finalizers.rs`). A change of `spec` is checked against a pod's and a claim's update
/// rules and bumps `metadata.generation` where the kind has one (`generation.rs`; the
/// controllers report it back as `status.observedGeneration`).
/// `baseline` is the stored object put through [`normalise`].
pub(crate) fn checked(key: &Key, baseline: &Value, changed: &Value) -> Result<Value, Error> {
    let invalid = |e: &dyn std::fmt::Display| {
        Error::Invalid(format!("{} {:?} is invalid: {e}", key.kind, key.name))
    };
    let typed = normalise(changed).map_err(|e| invalid(&format!("{}: {}", e.path, e.message)))?;
    validate_object(&typed).map_err(|e| invalid(&e))?;
    let mut value = typed.to_json_value();
    keep_server_metadata(baseline, &mut value);
    if key.kind == "Namespace" {
        namespaces::keep_spec_finalizers(baseline, &mut value);
    }
    finalizers::check_update(&key.kind, &key.name, baseline, &value)?;
    ValidationError::check(validate_config_update(&key.kind, baseline, &value))
        .map_err(|e| invalid(&e))?;
    ValidationError::check(validate_job_update(&key.kind, baseline, &value))
        .map_err(|e| invalid(&e))?;
    ValidationError::check(validate_role_ref_update(&key.kind, baseline, &value))
        .map_err(|e| invalid(&e))?;
    let (old_spec, new_spec) = (baseline.get("spec"), value.get("spec"));
    if value != *baseline && old_spec != new_spec {
        let null = Value::Null;
        if key.kind == "PersistentVolumeClaim" {
            super::storage::check_claim_update(
                &key.name,
                old_spec.unwrap_or(&null),
                new_spec.unwrap_or(&null),
            )
            .map_err(Error::Invalid)?;
        }
        if key.kind == "Pod" {
            merge::check_pod_update(
                &key.name,
                old_spec.unwrap_or(&null),
                new_spec.unwrap_or(&null),
            )
            .map_err(Error::Invalid)?;
        }
    }
    if generation::bumps(&key.kind, baseline, &value) {
        let generation = baseline
            .pointer("/metadata/generation")
            .and_then(Value::as_i64);
        objects::metadata_mut(&mut value).insert(
            "generation".into(),
            Value::from(generation.unwrap_or(0) + 1),
        );
    }
    Ok(value)
}

/// Metadata an update cannot change, as kube-apiserver's `BeforeUpdate`: taken from the
/// stored object whatever the request says (a different uid is refused earlier, as a
/// failed precondition, by the verbs that take a whole object).
const SERVER_KEPT: [&str; 5] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
];

fn keep_server_metadata(baseline: &Value, value: &mut Value) {
    let kept = baseline.get("metadata").and_then(Value::as_object);
    let meta = objects::metadata_mut(value);
    for field in SERVER_KEPT {
        match kept.and_then(|m| m.get(field)) {
            Some(v) => {
                meta.insert(field.into(), v.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
}

/// The stored object in the form [`checked`] compares with.
pub(crate) fn baseline_of(current: &Value) -> Value {
    let mut baseline = current.clone();
    objects::metadata_mut(&mut baseline).remove("resourceVersion");
    normalise(&baseline).map_or(baseline, |o| o.to_json_value())
}

/// Admission and creation of a new, checked object (`uid` as in its metadata): claims what
/// a Service needs, creates it unless the name is taken, keeps the claims if it was
/// created and gives them back if not. The store's refusal is returned as is.
pub(crate) async fn create(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    key: &Key,
    uid: &str,
    mut value: Value,
) -> Result<Result<(Stored, Value), StoreError>, Error> {
    super::storage::admit_create(store, key, &mut value).await?;
    super::service_accounts::admit_pod(store, clock.now_seconds(), key, &mut value).await?;
    let allocation =
        allocation::allocate_if_service(store, clock, ranges, key, None, &mut value).await?;
    let created = store
        .create(key.clone(), uid.to_string(), objects::to_bytes(&value))
        .await;
    Ok(settle(store, allocation, created, value).await)
}

/// Admission and compare-and-swap of a checked update of `stored` (parsed: `current`):
/// claims what a Service needs, writes at the revision read, keeps the claims if the
/// write happened and gives them back if not. A write that removes the last finalizer of
/// an object being deleted deletes it. The store's refusal is returned as is, for the
/// caller to retry or report.
pub(crate) async fn commit(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    stored: &Stored,
    current: &Value,
    mut value: Value,
) -> Result<Result<(Stored, Value), StoreError>, Error> {
    let key = &stored.key;
    let allocation =
        allocation::allocate_if_service(store, clock, ranges, key, Some(current), &mut value)
            .await?;
    let written = if finalizers::finished(&key.kind, &value) {
        // The last finalizer went: the write is the deletion (`finalizers.rs`).
        let deleted = store.delete(key, Some(stored.revision)).await;
        if deleted.is_ok() {
            info!(object = %key, "last finalizer removed; deleted");
        }
        deleted
    } else {
        store
            .update(
                key.clone(),
                objects::to_bytes(&value),
                Some(stored.revision),
            )
            .await
    };
    Ok(settle(store, allocation, written, value).await)
}

/// Keeps the claims of a write that happened, gives them back if it did not.
async fn settle(
    store: &dyn Store,
    allocation: Allocation,
    written: Result<Stored, StoreError>,
    value: Value,
) -> Result<(Stored, Value), StoreError> {
    match written {
        Ok(written) => {
            allocation.commit(store).await;
            Ok((written, value))
        }
        Err(e) => {
            allocation.undo(store).await;
            Err(e)
        }
    }
}

/// Admission of a new object into its namespace, as Kubernetes' namespace lifecycle
/// admission: the namespace must exist and not be being deleted. (Apply checks a whole
/// manifest at once, where a Namespace may come before the objects in it.)
pub(crate) async fn admit_namespace(store: &dyn Store, key: &Key) -> Result<(), Error> {
    if key.namespace.is_empty() {
        return Ok(());
    }
    match namespaces::state(store, &key.namespace).await? {
        Some(NamespaceState::Active) => Ok(()),
        Some(NamespaceState::Terminating) => Err(namespaces::terminating(key)),
        None => Err(Error::NotFound(format!(
            "namespace {:?} not found: {key} cannot be created in it",
            key.namespace
        ))),
    }
}

/// Reads `key`, lets `change` edit its JSON (returning whether it changed anything, or
/// why it refuses), then [`checked`] and [`commit`]. `precondition`: the revision it must
/// be at; without one, a conflict starts over from a fresh read.
pub(crate) async fn edit(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    key: &Key,
    precondition: Option<i64>,
    mut change: impl FnMut(&mut Value, &Stored) -> Result<bool, Error>,
) -> Result<WireObject, Error> {
    super::read_only::refuse(&key.kind, "patch")?;
    for _ in 0..CONFLICT_RETRIES {
        let (stored, current) = read_at(store, key, precondition).await?;
        let mut value = current.clone();
        if !change(&mut value, &stored)? {
            return Ok(objects::serve_value(&stored, current));
        }
        let value = checked(key, &baseline_of(&current), &value)?;
        match commit(store, clock, ranges, &stored, &current, value).await? {
            Ok((written, value)) => return Ok(objects::serve_value(&written, value)),
            Err(StoreError::Conflict { .. }) if precondition.is_none() => continue,
            Err(StoreError::NotFound(_)) => return Err(objects::not_found(key)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(format!(
        "{key} kept changing while it was being edited; try again"
    )))
}

/// Reads `key` and parses it; with a `precondition`, it must be at that revision
/// (a `Conflict` otherwise). The start of every read-modify-write here.
pub(crate) async fn read_at(
    store: &dyn Store,
    key: &Key,
    precondition: Option<i64>,
) -> Result<(Stored, Value), Error> {
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
    let current = objects::parse(&stored)?;
    Ok((stored, current))
}
