//! Finalizers and `deletionTimestamp`, as kube-apiserver's generic registry has them (a
//! Namespace's DELETE only marks it, `namespaces.rs`; its content then goes through
//! [`delete`] as well):
//! deleting an object with finalizers only marks it (`deletionTimestamp`,
//! `deletionGracePeriodSeconds: 0`, its generation bumped) and the write that removes its
//! last finalizer deletes it (`write.rs` [`commit`](super::write::commit), or
//! [`remove`] for the controllers that own a finalizer: the volume protection, the
//! garbage collector's `foregroundDeletion`). No finalizer may be added to an object
//! being deleted.

use serde_json::Value;
use tracing::info;

use super::objects;
use super::served::Object as WireObject;
use crate::core::{Clock, Error};
use crate::store::{read_decide_write, Done, Key, Step, Store, Stored};

/// The finalizer of the Foreground policy: the garbage collector removes it once no
/// dependent with `blockOwnerDeletion` is left (`controllers/gc.rs`).
pub const FOREGROUND: &str = "foregroundDeletion";

/// The finalizer of the Orphan policy: the garbage collector removes the owner's
/// references from its dependents, then this finalizer (`controllers/gc.rs`).
pub const ORPHAN: &str = "orphan";

/// The object's `metadata.finalizers`.
pub fn of(value: &Value) -> Vec<String> {
    value
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(value: &Value) -> bool {
    value
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// Whether a write of `value` ends its deletion: it is marked, no finalizer is left and
/// no grace period runs (a pod's agent ends that one). A namespace also waits for its
/// `spec.finalizers` (the namespace controller's, `namespaces.rs`).
pub fn finished(kind: &str, value: &Value) -> bool {
    (kind != "Namespace" || super::namespaces::spec_finalizers(value).is_empty())
        && is_deleting(value)
        && of(value).is_empty()
        && value
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
}

/// The update rule: finalizers may not be added once the object is being deleted
/// (kube-apiserver's `ValidateNoNewFinalizers`).
pub fn check_update(kind: &str, name: &str, old: &Value, new: &Value) -> Result<(), Error> {
    if !is_deleting(old) {
        return Ok(());
    }
    let before = of(old);
    let added: Vec<String> = of(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{kind} {name:?} is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
    )))
}

/// Marks `value` as being deleted now (kept if already marked) and adds `extra` to its
/// finalizers. The generation, where the kind has one, goes up on the first mark.
fn mark(value: &mut Value, clock: &dyn Clock, extra: Option<&str>) {
    let first = !is_deleting(value);
    let meta = objects::metadata_mut(value);
    if first {
        if let Some(generation) = meta.get("generation").and_then(Value::as_i64) {
            meta.insert("generation".into(), Value::from(generation + 1));
        }
        meta.insert(
            "deletionTimestamp".into(),
            Value::String(clock.now_seconds().to_string()),
        );
        meta.insert("deletionGracePeriodSeconds".into(), Value::from(0));
    }
    if let Some(extra) = extra {
        let list = meta
            .entry("finalizers")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = list.as_array_mut() {
            if !list.iter().any(|f| f == extra) {
                list.push(Value::from(extra));
            }
        }
    }
}

/// What one delete pins: the object's uid and revision (DeleteOptions' preconditions, or
/// what a controller read).
#[derive(Debug, Default, Clone, Copy)]
pub struct Pinned<'a> {
    pub uid: Option<&'a str>,
    pub revision: Option<i64>,
}

/// What a delete did, with the object's last state (at the revision of the deletion or
/// of the mark).
#[derive(Debug)]
pub enum Deleted {
    /// No finalizer held it: gone.
    Gone(WireObject),
    /// Finalizers hold it: marked by this delete.
    Marked(WireObject),
    /// Already being deleted: left as it was (nothing written).
    Pending(WireObject),
}

impl Deleted {
    pub fn object(self) -> WireObject {
        match self {
            Deleted::Gone(o) | Deleted::Marked(o) | Deleted::Pending(o) => o,
        }
    }

    /// Whether this delete wrote anything (a controller reports only what it did).
    pub fn acted(&self) -> bool {
        !matches!(self, Deleted::Pending(_))
    }
}

/// What a delete's decision hands back.
enum Outcome {
    Missing,
    /// Another object (this uid) has the name now.
    Replaced(String),
    Kept(WireObject),
    Gone(Value),
    Marked(Value),
}

/// The one delete of every deleter (the verbs, eviction, the namespace controller, the
/// garbage collector, the controllers' scale-downs and cleanups): with finalizers (its
/// own, or `extra`, the Foreground one) the object is marked and kept; without, it goes.
/// An object already being deleted with finalizers pending is left as it is, so a
/// deleter that comes back to it writes nothing. A missing object is `NotFound`; a uid
/// or revision other than `pinned`'s a `Conflict`.
pub async fn delete(
    store: &dyn Store,
    clock: &dyn Clock,
    key: &Key,
    extra: Option<&str>,
    pinned: Pinned<'_>,
) -> Result<Deleted, Error> {
    match decide_and_write(store, clock, key, extra, pinned).await? {
        Some(Ok(deleted)) => Ok(deleted),
        Some(Err(actual)) => Err(Error::Conflict(format!(
            "Operation cannot be fulfilled on {} {:?}: Precondition failed: UID in precondition: {}, UID in object meta: {actual}",
            objects::qualified_resource(&key.kind),
            key.name,
            pinned.uid.unwrap_or_default(),
        ))),
        None => Err(objects::not_found(key)),
    }
}

/// [`delete`] for a controller acting on the object with `uid` it read: `None` when that
/// object is gone already or another took its name (nothing to do).
pub async fn delete_if(
    store: &dyn Store,
    clock: &dyn Clock,
    key: &Key,
    uid: &str,
) -> Result<Option<Deleted>, Error> {
    let pinned = Pinned {
        uid: Some(uid),
        revision: None,
    };
    Ok(
        match decide_and_write(store, clock, key, None, pinned).await? {
            Some(Ok(deleted)) => Some(deleted),
            Some(Err(_)) | None => None,
        },
    )
}

/// [`delete`] of the version `stored` that a controller read: `None` when it is gone,
/// replaced or changed since (the next pass judges the new version).
pub async fn delete_read(
    store: &dyn Store,
    clock: &dyn Clock,
    stored: &Stored,
) -> Result<Option<Deleted>, Error> {
    let pinned = Pinned {
        uid: Some(&stored.uid),
        revision: Some(stored.revision),
    };
    match decide_and_write(store, clock, &stored.key, None, pinned).await {
        Ok(Some(Ok(deleted))) => Ok(Some(deleted)),
        Ok(_) | Err(Error::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The compare-and-swap of [`delete`]: `None` missing, `Some(Err(uid))` replaced.
async fn decide_and_write(
    store: &dyn Store,
    clock: &dyn Clock,
    key: &Key,
    extra: Option<&str>,
    pinned: Pinned<'_>,
) -> Result<Option<Result<Deleted, String>>, Error> {
    let contended = || Error::Conflict(format!("{key} kept changing while it was deleted; retry"));
    let done = read_decide_write(
        store,
        key,
        |current: Option<&Stored>| {
            let Some(stored) = current else {
                return Ok(Step::Keep(Outcome::Missing));
            };
            if pinned.uid.is_some_and(|uid| uid != stored.uid) {
                return Ok(Step::Keep(Outcome::Replaced(stored.uid.clone())));
            }
            if let Some(expected) = pinned.revision.filter(|rv| *rv != stored.revision) {
                return Err(crate::store::StoreError::Conflict {
                    key: key.clone(),
                    expected,
                    actual: stored.revision,
                }
                .into());
            }
            let value = objects::parse(stored)?;
            if is_deleting(&value) && !of(&value).is_empty() {
                return Ok(Step::Keep(Outcome::Kept(objects::serve_value(
                    stored, value,
                ))));
            }
            if of(&value).is_empty() && extra.is_none() {
                return Ok(Step::Delete(Outcome::Gone(value)));
            }
            let mut marked = value;
            mark(&mut marked, clock, extra);
            Ok(Step::Update {
                bytes: objects::to_bytes(&marked),
                then: Outcome::Marked(marked),
            })
        },
        contended,
    )
    .await?;
    Ok(Some(Ok(match done {
        Done::Kept(Outcome::Missing) => return Ok(None),
        Done::Kept(Outcome::Replaced(uid)) => return Ok(Some(Err(uid))),
        Done::Kept(Outcome::Kept(last)) => Deleted::Pending(last),
        Done::Deleted(Outcome::Gone(value), last) => {
            info!(object = %key, "deleted");
            Deleted::Gone(objects::serve_value(&last, value))
        }
        Done::Written(Outcome::Marked(value), written) => {
            info!(object = %key, finalizers = ?of(&value), "marked for deletion; finalizers pending");
            Deleted::Marked(objects::serve_value(&written, value))
        }
        _ => unreachable!("each step hands back its own outcome"),
    })))
}

/// Removes `finalizer` from the object at `key` (if it is still the one with `uid`); the
/// object goes when that was the last one of an object being deleted. True when it was
/// there.
pub async fn remove(
    store: &dyn Store,
    key: &Key,
    uid: &str,
    finalizer: &str,
) -> Result<bool, Error> {
    let contended =
        || Error::Conflict(format!("{key} kept changing while {finalizer} was removed"));
    let done = read_decide_write(
        store,
        key,
        |current: Option<&Stored>| {
            let Some(stored) = current.filter(|s| s.uid == uid) else {
                return Ok(Step::Keep(false));
            };
            let mut value = objects::parse(stored)?;
            let mut list = of(&value);
            let before = list.len();
            list.retain(|f| f != finalizer);
            if list.len() == before {
                return Ok(Step::Keep(false));
            }
            let meta = objects::metadata_mut(&mut value);
            if list.is_empty() {
                meta.remove("finalizers");
            } else {
                meta.insert("finalizers".into(), Value::from(list));
            }
            if finished(&key.kind, &value) {
                return Ok(Step::Delete(true));
            }
            Ok(Step::Update {
                bytes: objects::to_bytes(&value),
                then: true,
            })
        },
        contended,
    )
    .await?;
    Ok(match done {
        Done::Deleted(removed, _) => {
            info!(object = %key, finalizer, "last finalizer removed; deleted");
            removed
        }
        Done::Kept(removed) | Done::Written(removed, _) => removed,
    })
}
