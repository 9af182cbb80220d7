//! Create and replace of one object, as the REST front door's POST and PUT ask for them
//! (apply, in `apply.rs`, merges instead). Both go through the one write pipeline
//! (`write.rs`): default, validate, admission, compare-and-swap.
//!
//! As kube-apiserver's strategies do: a create ignores `status` (but a Node's) and every
//! server-set metadata field, and fills `generateName`; a replace of the object keeps
//! the stored `status`, and a replace of `status` keeps everything else, so the two
//! writers (users and controllers) never undo each other.

use serde_json::Value;
use skiff_proto::apply::Manager;
use skiff_proto::model::{default_object, validate_object, Object};
use tracing::info;

use super::namespaces;
use super::objects;
use super::served::Object as WireObject;
use super::write::{self, CONFLICT_RETRIES};
use crate::core::{Clock, Error, Kind, Ranges};
use crate::store::{Key, Store, StoreError};

/// Metadata only the server sets; a client's values are dropped on create.
const SERVER_METADATA: [&str; 7] = [
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// Attempts at a name from `generateName` before giving up, as kube-apiserver.
const GENERATE_ATTEMPTS: usize = 8;

/// Which part of an object a replace writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything but `status`.
    Main,
    /// Only `status` (the `/status` subresource).
    Status,
}

/// Creates `value` (a whole object, strictly decodable) in `namespace` (the request's;
/// the object's own must match or be empty). With `dry_run` nothing is written and the
/// object is returned as it would have been created. `manager`: who is recorded in
/// `managedFields` as having set the fields (none: they stay as `value` has them).
pub async fn create(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    mut value: Value,
    namespace: Option<&str>,
    dry_run: bool,
    manager: Option<&Manager>,
) -> Result<WireObject, Error> {
    let meta = objects::metadata_mut(&mut value);
    for field in SERVER_METADATA {
        meta.remove(field);
    }
    if let Some(namespace) = namespace {
        match meta.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                meta.insert("namespace".into(), Value::from(namespace));
            }
            Some(own) if own == namespace => {}
            Some(_) => {
                return Err(Error::Invalid(
                    "the namespace of the provided object does not match the namespace sent on the request"
                        .into(),
                ))
            }
        }
    }
    let generate = meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        .then(|| {
            meta.get("generateName")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .flatten();
    if value.get("kind").and_then(Value::as_str) != Some("Node") {
        if let Some(object) = value.as_object_mut() {
            object.remove("status");
        }
    }
    for _ in 0..GENERATE_ATTEMPTS {
        let mut candidate = value.clone();
        if let Some(prefix) = &generate {
            objects::metadata_mut(&mut candidate).insert(
                "name".into(),
                Value::from(format!("{prefix}{}", crate::core::ids::random_suffix())),
            );
        }
        match create_once(store, clock, ranges, candidate, dry_run, manager).await {
            Err(Error::AlreadyExists(_)) if generate.is_some() => continue,
            other => return other,
        }
    }
    Err(Error::AlreadyExists(
        "no unused name could be generated from generateName; try again".into(),
    ))
}

async fn create_once(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    value: Value,
    dry_run: bool,
    manager: Option<&Manager>,
) -> Result<WireObject, Error> {
    let mut object = write::normalise(&value)
        .map_err(|e| Error::Invalid(format!("{}: {}", e.path, e.message)))?;
    if object.name().is_empty() {
        return Err(Error::Invalid(
            "name or generateName is required: metadata.name: Required value".into(),
        ));
    }
    let uid =
        super::jobs::prepare_for_create(&mut object).unwrap_or_else(crate::core::ids::new_uid);
    default_object(&mut object);
    let key = Kind::of(object.kind()).key(object.namespace(), object.name());
    super::read_only::refuse(&key.kind, "create")?;
    validate_object(&object)
        .map_err(|e| Error::Invalid(format!("{} {:?} is invalid: {e}", key.kind, key.name)))?;
    write::admit_namespace(store, &key).await?;
    let mut value = new_object(&key, object, &uid, clock);
    record(&key, None, &mut value, manager, clock)?;
    if dry_run {
        if store.get(&key).await?.is_some() {
            return Err(already_exists(&key));
        }
        return Ok(dry(&key, &uid, value));
    }
    match write::create(store, clock, ranges, &key, &uid, value).await? {
        Ok((stored, value)) => {
            info!(object = %key, "created");
            Ok(objects::serve_value(&stored, value))
        }
        Err(StoreError::AlreadyExists(_)) => Err(already_exists(&key)),
        Err(e) => Err(e.into()),
    }
}

/// The defaulted object with what the server sets at creation.
fn new_object(key: &Key, object: Object, uid: &str, clock: &dyn Clock) -> Value {
    let mut value = object.to_json_value();
    let meta = objects::metadata_mut(&mut value);
    meta.insert("uid".into(), Value::from(uid));
    meta.insert(
        "creationTimestamp".into(),
        Value::String(clock.now_seconds().to_string()),
    );
    super::generation::initialise(&key.kind, &mut value);
    match key.kind.as_str() {
        "Pod" => value["status"] = serde_json::json!({"phase": "Pending"}),
        "Namespace" => namespaces::initialise(&mut value, &key.name),
        _ => {}
    }
    value
}

/// What a dry run answers: the object as it would have been, without a revision.
fn dry(key: &Key, uid: &str, value: Value) -> WireObject {
    WireObject {
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        uid: uid.to_string(),
        resource_version: String::new(),
        json: serde_json::to_vec(&value).expect("a JSON value always serializes"),
    }
}

fn already_exists(key: &Key) -> Error {
    Error::AlreadyExists(format!("{} {:?} already exists", key.kind, key.name))
}

/// Replaces the object at `key` with `value` (PUT): only `part` of it is taken, the
/// rest stays as stored. `precondition`: the revision it must be at (the body's
/// `metadata.resourceVersion`); without one the write is unconditional. `manager`: who
/// is recorded in `managedFields` as having made the change.
#[allow(clippy::too_many_arguments)]
pub async fn replace(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    key: &Key,
    value: Value,
    precondition: Option<i64>,
    part: Part,
    dry_run: bool,
    manager: Option<&Manager>,
) -> Result<WireObject, Error> {
    super::read_only::refuse(&key.kind, "update")?;
    for _ in 0..CONFLICT_RETRIES {
        let (stored, current) = write::read_at(store, key, precondition).await?;
        check_uid(key, &value, &stored.uid)?;
        let changed = replaced(&current, &value, part);
        if changed == current {
            return Ok(objects::serve_value(&stored, current));
        }
        let baseline = write::baseline_of(&current);
        let mut checked = write::checked(key, &baseline, &changed)?;
        record(key, Some(&baseline), &mut checked, manager, clock)?;
        if dry_run {
            return Ok(objects::serve_value(&stored, checked));
        }
        match write::commit(store, clock, ranges, &stored, &current, checked).await? {
            Ok((written, value)) => {
                info!(object = %key, "replaced");
                return Ok(objects::serve_value(&written, value));
            }
            Err(StoreError::Conflict { .. }) if precondition.is_none() => continue,
            Err(StoreError::NotFound(_)) => return Err(objects::not_found(key)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(format!(
        "{key} kept changing while it was being replaced; try again"
    )))
}

/// Records `manager`'s change from `old` to `value` in `value`'s `managedFields`
/// (`skiff_proto::apply`), both defaulted, so defaults a writer's change brought in are
/// its own, as kube-apiserver (which defaults while decoding) records them.
fn record(
    key: &Key,
    old: Option<&Value>,
    value: &mut Value,
    manager: Option<&Manager>,
    clock: &dyn Clock,
) -> Result<(), Error> {
    let Some(manager) = manager else {
        return Ok(());
    };
    let now = clock.now_seconds().to_string();
    skiff_proto::apply::record_update(&key.kind, old, value, manager, &now)
        .map_err(|e| Error::Invalid(format!("{} {:?} is invalid: {e}", key.kind, key.name)))
}

/// A body's uid is a precondition, as kube-apiserver takes it from a PUT: another
/// object's uid is a conflict; none means the stored one.
fn check_uid(key: &Key, value: &Value, stored_uid: &str) -> Result<(), Error> {
    let uid = value
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if uid.is_empty() || uid == stored_uid {
        return Ok(());
    }
    let resource = objects::qualified_resource(&key.kind);
    Err(Error::Conflict(format!(
        "Operation cannot be fulfilled on {resource} {:?}: Precondition failed: UID in precondition: {uid}, UID in object meta: {stored_uid}",
        key.name
    )))
}

/// `current` with `part` of `value` put in: server-set metadata always stays.
fn replaced(current: &Value, value: &Value, part: Part) -> Value {
    let mut out = match part {
        Part::Main => {
            let mut out = value.clone();
            match current.get("status") {
                Some(status) => out["status"] = status.clone(),
                None => {
                    if let Some(object) = out.as_object_mut() {
                        object.remove("status");
                    }
                }
            }
            // managedFields are kept unless the body sets them (`[]` resets them), as
            // kube-apiserver keeps them.
            let given = out
                .pointer("/metadata/managedFields")
                .is_some_and(|v| !v.is_null());
            if let (false, Some(managed)) = (given, current.pointer("/metadata/managedFields")) {
                objects::metadata_mut(&mut out).insert("managedFields".into(), managed.clone());
            }
            out
        }
        Part::Status => {
            let mut out = current.clone();
            match value.get("status") {
                Some(status) => out["status"] = status.clone(),
                None => {
                    if let Some(object) = out.as_object_mut() {
                        object.remove("status");
                    }
                }
            }
            // Ownership is kept per subresource, so a status writer's entries count.
            if let Some(managed) = value.pointer("/metadata/managedFields") {
                objects::metadata_mut(&mut out).insert("managedFields".into(), managed.clone());
            }
            out
        }
    };
    let kept = current.get("metadata").and_then(Value::as_object);
    let meta = objects::metadata_mut(&mut out);
    for field in SERVER_METADATA {
        match kept.and_then(|m| m.get(field)) {
            Some(v) if field != "resourceVersion" => {
                meta.insert(field.into(), v.clone());
            }
            _ => {
                meta.remove(field);
            }
        }
    }
    out
}
