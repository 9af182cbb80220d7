//! Apply: create what is missing, update what differs, leave alone what is the same.
//!
//! Every object of the manifest is decoded, defaulted and validated before anything is
//! written, so a typo in the third document writes nothing. Writes then go one object at a
//! time in manifest order (a Namespace before the objects in it); if one fails, the error
//! says which objects were already applied.
//!
//! Known gap: the namespace checks run before the writes, so an object applied while its
//! namespace is being deleted can outlive the namespace (Kubernetes closes this with a
//! namespace controller that sweeps again; skiff's comes with the controllers).

use std::collections::{BTreeMap, BTreeSet};

use super::served::Object as WireObject;
use serde_json::Value;
use skiff_proto::last_applied::without_server_fields;
use skiff_proto::model::{decode_documents, default_object, validate_object, Object};
use tracing::info;

use super::merge::{self, LAST_APPLIED};
use super::namespaces::{self, NamespaceState};
use super::objects;
use super::write::{self, CONFLICT_RETRIES};
use crate::core::Kind;
use crate::core::Ranges;
use crate::core::{Clock, Error};
use crate::resources::allocation;
use crate::store::{Key, Store, StoreError};

/// What apply did to one object, in kubectl's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Configured,
    Unchanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub object: WireObject,
    pub action: Action,
}

/// One manifest object, ready to be written.
struct Prepared {
    key: Key,
    /// The manifest as the user wrote it (normalised, namespace filled in): what the
    /// last-applied annotation records.
    user: Value,
    /// The defaulted object, without status and server-set metadata: what is created.
    desired: Value,
    /// `metadata.resourceVersion` from the manifest: update only if still at it.
    precondition: Option<i64>,
    /// The uid it gets if created, when decided early (see `jobs.rs`).
    uid: Option<String>,
    /// Why it may not be created (a Job whose selector is not the one generated for it);
    /// an update is judged on the merged object instead.
    refused_create: Option<Error>,
}

/// Applies every object in `manifest`. `source` names it in errors; `namespace` is for
/// objects that name none (empty: "default"). Services get addresses and ports from the
/// default ranges; the server uses [`apply_with`] and its configured ones.
pub async fn apply(
    store: &dyn Store,
    clock: &dyn Clock,
    source: &str,
    manifest: &str,
    namespace: &str,
) -> Result<Vec<Applied>, Error> {
    apply_with(
        store,
        clock,
        &Ranges::default(),
        source,
        manifest,
        namespace,
    )
    .await
}

/// [`apply`] with the cluster's service ranges (`--service-cidr`, `--node-port-range`).
pub async fn apply_with(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    source: &str,
    manifest: &str,
    namespace: &str,
) -> Result<Vec<Applied>, Error> {
    let source = if source.is_empty() {
        "manifest"
    } else {
        source
    };
    let objects = decode_documents(source, manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    if objects.is_empty() {
        return Err(Error::Invalid(format!("{source}: no objects to apply")));
    }
    let prepared = objects
        .into_iter()
        .map(|object| prepare(source, object, namespace))
        .collect::<Result<Vec<_>, _>>()?;
    let states = namespace_states(store, source, &prepared).await?;
    for object in &prepared {
        if super::read_only::is_read_only(&object.key.kind) {
            let exists = store.get(&object.key).await?.is_some();
            super::read_only::refuse(&object.key.kind, if exists { "patch" } else { "create" })?;
        }
        if let Some(refused) = &object.refused_create {
            if store.get(&object.key).await?.is_none() {
                return Err(refused.clone());
            }
        }
    }

    let mut results: Vec<Applied> = Vec::with_capacity(prepared.len());
    for object in &prepared {
        let state = states.get(&object.key.namespace).copied();
        match write(store, clock, ranges, object, state).await {
            Ok(applied) => {
                info!(object = %object.key, action = applied.action.as_str(), "applied");
                results.push(applied);
            }
            Err(e) if results.is_empty() => return Err(e.context(source)),
            Err(e) => {
                let done: Vec<String> = results
                    .iter()
                    .map(|r| format!("{}/{} {}", r.object.kind, r.object.name, r.action.as_str()))
                    .collect();
                return Err(e.context(format!("{source}: already applied: {}", done.join(", "))));
            }
        }
    }
    Ok(results)
}

/// Decoded object → [`Prepared`]: namespace, defaults, validation.
fn prepare(source: &str, mut object: Object, namespace: &str) -> Result<Prepared, Error> {
    let kind = Kind::of(object.kind());
    if kind.namespaced {
        let own = object.namespace().to_string();
        match (own.as_str(), namespace) {
            ("", requested) => {
                object.metadata_mut().namespace = Some(kind.namespace_of(requested).to_string())
            }
            (own, requested) if requested.is_empty() || own == requested => {}
            (own, requested) => {
                return Err(Error::Invalid(format!(
                    "{source}: the namespace from the provided object {own:?} does not match \
                     the namespace {requested:?}: leave -n out, or pass -n {own}"
                )))
            }
        }
    }
    let precondition = objects::parse_revision(
        object
            .metadata()
            .resource_version
            .as_deref()
            .unwrap_or_default(),
    )?;
    let user = without_server_fields(object.to_json_value());
    let mut defaulted = object;
    default_object(&mut defaulted);
    let uid = super::jobs::prepare_for_create(&mut defaulted);
    let (kind_name, name) = (defaulted.kind(), defaulted.name().to_string());
    let refused_create = match validate_object(&defaulted) {
        Ok(()) => None,
        Err(e) => {
            let e = Error::Invalid(format!("{source}: {kind_name} {name:?} is invalid: {e}"));
            match uid {
                Some(_) => Some(e),
                None => return Err(e),
            }
        }
    };
    if name.is_empty() {
        return Err(Error::Invalid(format!(
            "{source}: {kind_name}: metadata.name is required (apply cannot use generateName)"
        )));
    }
    Ok(Prepared {
        key: kind.key(defaulted.namespace(), &name),
        desired: without_server_fields(defaulted.to_json_value()),
        user,
        precondition,
        uid,
        refused_create,
    })
}

/// The state of every namespace the manifest's objects live in. A namespace must exist,
/// or be created earlier in the same manifest.
async fn namespace_states(
    store: &dyn Store,
    source: &str,
    prepared: &[Prepared],
) -> Result<BTreeMap<String, NamespaceState>, Error> {
    let declared: BTreeSet<&str> = prepared
        .iter()
        .filter(|p| p.key.kind == "Namespace")
        .map(|p| p.key.name.as_str())
        .collect();
    let used: BTreeSet<&str> = prepared
        .iter()
        .map(|p| p.key.namespace.as_str())
        .filter(|ns| !ns.is_empty())
        .collect();
    let mut states = BTreeMap::new();
    for namespace in used {
        match namespaces::state(store, namespace).await? {
            Some(state) => {
                states.insert(namespace.to_string(), state);
            }
            None if declared.contains(namespace) => {}
            None => {
                return Err(Error::NotFound(format!(
                    "{source}: namespace {namespace:?} not found: create it first \
                     (apply a Namespace named {namespace:?})"
                )))
            }
        }
    }
    Ok(states)
}

/// Creates or updates one object, retrying the read-merge-write when another writer got
/// in between (unless the manifest pinned a resourceVersion).
async fn write(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    object: &Prepared,
    namespace: Option<NamespaceState>,
) -> Result<Applied, Error> {
    for _ in 0..CONFLICT_RETRIES {
        let Some(stored) = store.get(&object.key).await? else {
            if namespace == Some(NamespaceState::Terminating) {
                return Err(namespaces::terminating(&object.key));
            }
            if object.precondition.is_some() {
                return Err(Error::Invalid(format!(
                    "{}: resourceVersion should not be set on objects to be created",
                    object.key
                )));
            }
            let value = new_object(object, clock);
            let uid = value["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match write::create(store, clock, ranges, &object.key, &uid, value).await? {
                Ok((stored, value)) => return applied(&stored, value, Action::Created),
                Err(StoreError::AlreadyExists(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if let Some(expected) = object.precondition.filter(|rv| *rv != stored.revision) {
            return Err(Error::from(StoreError::Conflict {
                key: object.key.clone(),
                expected,
                actual: stored.revision,
            }));
        }
        let current = objects::parse(&stored)?;
        let (baseline, merged) = merged(object, &current)?;
        if merged == baseline {
            return applied(&stored, current, Action::Unchanged);
        }
        match write::commit(store, clock, ranges, &stored, &current, merged).await? {
            Ok((stored, merged)) => return applied(&stored, merged, Action::Configured),
            Err(StoreError::Conflict { .. } | StoreError::NotFound(_))
                if object.precondition.is_none() =>
            {
                continue
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(format!(
        "{} kept changing while it was being applied; apply again",
        object.key
    )))
}

/// The stored object with the manifest merged in (see `merge.rs`), then defaulted and
/// validated as a whole, as the API server does with a patch: a default never overrides
/// what is stored (a pod's `imagePullPolicy` stays as created when only its image
/// changes). Returns it with the stored object put through the same normalisation, for
/// an "unchanged" test that does not depend on how the stored JSON was spelled.
fn merged(object: &Prepared, current: &Value) -> Result<(Value, Value), Error> {
    let last: Option<Value> = current
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok());
    let baseline = write::baseline_of(current);
    let mut merged = current.clone();
    objects::metadata_mut(&mut merged).remove("resourceVersion");
    merge::three_way(&mut merged, last.as_ref(), &object.user);
    let annotations = objects::metadata_mut(&mut merged)
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    annotations[LAST_APPLIED] = Value::String(object.user.to_string());
    allocation::drop_allocated_node_ports(&object.key, &object.user, &mut merged);
    let merged = write::checked(&object.key, &baseline, &merged)?;
    Ok((baseline, merged))
}

/// A new object: the defaulted manifest plus what the server sets at creation.
fn new_object(object: &Prepared, clock: &dyn Clock) -> Value {
    let mut value = object.desired.clone();
    let uid = object.uid.clone().unwrap_or_else(crate::core::ids::new_uid);
    let meta = objects::metadata_mut(&mut value);
    meta.insert("uid".into(), Value::String(uid.clone()));
    meta.insert(
        "creationTimestamp".into(),
        Value::String(clock.now_seconds().to_string()),
    );
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    annotations[LAST_APPLIED] = Value::String(object.user.to_string());
    super::generation::initialise(&object.key.kind, &mut value);
    match object.key.kind.as_str() {
        "Pod" => value["status"] = serde_json::json!({"phase": "Pending"}),
        "Namespace" => namespaces::initialise(&mut value, &object.key.name),
        _ => {}
    }
    value
}

fn applied(stored: &crate::store::Stored, value: Value, action: Action) -> Result<Applied, Error> {
    Ok(Applied {
        object: objects::serve_value(stored, value),
        action,
    })
}
