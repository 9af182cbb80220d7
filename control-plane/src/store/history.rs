//! Reading the objects of a kind as they were at a past revision ([`Store::list_at`]),
//! the way etcd serves a read at a revision: what a paginated list's later pages show, so
//! that every page is consistent with the first.
//!
//! Both backends keep, with every update and delete in the event log, the object as it
//! was before (`prev`). An object's state at revision R is then its current state unless
//! it was written after R, and if it was, the first write after R says it all: a create
//! means it did not exist at R, an update or delete carries its state at R. So only the
//! log after R is needed, which is there as long as R is not older than the compaction
//! point.
//!
//! [`Store::list_at`]: super::Store::list_at

use std::collections::{BTreeMap, HashSet};

use super::{EventType, Key, StoreError, Stored};

/// A write after the revision read at, as [`rebuild`] needs it.
#[derive(Debug)]
pub(crate) struct Written {
    pub key: Key,
    pub kind: EventType,
    pub revision: i64,
    /// The object before the write (none for a create, or for an event logged before the
    /// store kept them).
    pub prev: Option<Stored>,
}

/// The state at `at`: `current` (the objects now) with every object written after `at`
/// put back as it was. `writes` are the log's events after `at`, oldest first.
pub(crate) fn rebuild(
    current: Vec<Stored>,
    writes: impl IntoIterator<Item = Written>,
    at: i64,
) -> Result<Vec<Stored>, StoreError> {
    let mut objects: BTreeMap<Key, Stored> =
        current.into_iter().map(|o| (o.key.clone(), o)).collect();
    let mut seen = HashSet::new();
    for write in writes {
        if !seen.insert(write.key.clone()) {
            continue; // only the first write after `at` tells the state at `at`
        }
        match (write.kind, write.prev) {
            (EventType::Added, _) => {
                objects.remove(&write.key);
            }
            (_, Some(prev)) => {
                objects.insert(write.key, prev);
            }
            // The log predates `prev` (a database written by an older skiff): the state
            // at `at` is unknown from here on, as if compacted.
            (_, None) => {
                return Err(StoreError::Compacted {
                    requested: at,
                    oldest: write.revision,
                })
            }
        }
    }
    Ok(objects.into_values().collect())
}

/// Whether an object of `kind` in `namespace` belongs to a list of (`kind`, `namespace`).
pub(crate) fn in_list(key: &Key, kind: &str, namespace: Option<&str>) -> bool {
    key.kind == kind && namespace.is_none_or(|ns| ns == key.namespace)
}
