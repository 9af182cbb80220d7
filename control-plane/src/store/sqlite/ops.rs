//! The SQL behind [`SqliteStore`](super::SqliteStore), one function per statement, so the
//! store's methods read as the transaction they run.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::store::history::{self, Written};
use crate::store::watch::LogPage;
use crate::store::{Event, EventType, Key, StoreError, Stored};

pub(super) fn meta(c: &Connection, key: &str) -> Result<i64, StoreError> {
    let value = c
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))?;
    Ok(value)
}

pub(super) fn set_meta(c: &Connection, key: &str, value: i64) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE meta SET value = ?2 WHERE key = ?1")?
        .execute(params![key, value])?;
    Ok(())
}

pub(super) fn get(c: &Connection, key: &Key) -> Result<Option<Stored>, StoreError> {
    let found = c
        .prepare_cached("SELECT uid, revision, json FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3")?
        .query_row(params![key.kind, key.namespace, key.name], |r| {
            Ok(Stored { key: key.clone(), uid: r.get(0)?, revision: r.get(1)?, json: r.get(2)? })
        })
        .optional()?;
    Ok(found)
}

/// Objects and the revision read from one snapshot, so that a watch from that revision
/// neither misses nor repeats a change.
pub(super) fn list(
    c: &mut Connection,
    kind: &str,
    namespace: Option<&str>,
) -> Result<(Vec<Stored>, i64), StoreError> {
    let tx = c.transaction()?;
    let revision = meta(&tx, "revision")?;
    let objects = {
        let mut stmt = tx.prepare_cached(
            "SELECT kind, namespace, name, uid, revision, json FROM objects
             WHERE kind = ?1 AND (?2 IS NULL OR namespace = ?2) ORDER BY namespace, name",
        )?;
        let rows = stmt.query_map(params![kind, namespace], stored_from_row)?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    tx.finish()?;
    Ok((objects, revision))
}

pub(super) fn put_object(c: &Connection, o: &Stored) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO objects (kind, namespace, name, uid, revision, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![o.key.kind, o.key.namespace, o.key.name, o.uid, o.revision, o.json])?;
    Ok(())
}

pub(super) fn delete_object(c: &Connection, key: &Key) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3")?
        .execute(params![key.kind, key.namespace, key.name])?;
    Ok(())
}

/// Appends `e`, with `prev`, the object as it was before it (none for a create).
pub(super) fn append_event(
    c: &Connection,
    e: &Event,
    prev: Option<&Stored>,
) -> Result<(), StoreError> {
    let o = &e.object;
    let (prev_uid, prev_revision, prev_json) = match prev {
        Some(p) => (Some(&p.uid), Some(p.revision), Some(&p.json)),
        None => (None, None, None),
    };
    c.prepare_cached(
        "INSERT INTO events (revision, type, kind, namespace, name, uid, json, prev_uid, prev_revision, prev_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        o.revision, e.kind.as_str(), o.key.kind, o.key.namespace, o.key.name, o.uid, o.json,
        prev_uid, prev_revision, prev_json
    ])?;
    Ok(())
}

/// Schema 1 → 2: the `prev_*` columns of `events` (left NULL for the events already
/// there, which `list_at` then treats as compacted).
pub(super) fn add_prev_columns(c: &Connection) -> Result<(), StoreError> {
    let has: bool = c
        .prepare("SELECT 1 FROM pragma_table_info('events') WHERE name = 'prev_json'")?
        .exists([])?;
    if !has {
        c.execute_batch(
            "ALTER TABLE events ADD COLUMN prev_uid TEXT;
             ALTER TABLE events ADD COLUMN prev_revision INTEGER;
             ALTER TABLE events ADD COLUMN prev_json BLOB;",
        )?;
    }
    Ok(())
}

/// The objects of a list as they were at `revision` (`store/history.rs`), read from one
/// snapshot.
pub(super) fn list_at(
    c: &mut Connection,
    kind: &str,
    namespace: Option<&str>,
    revision: i64,
) -> Result<Vec<Stored>, StoreError> {
    let tx = c.transaction()?;
    let compacted = meta(&tx, "compacted")?;
    if revision < compacted {
        return Err(StoreError::Compacted {
            requested: revision,
            oldest: compacted,
        });
    }
    let current = {
        let mut stmt = tx.prepare_cached(
            "SELECT kind, namespace, name, uid, revision, json FROM objects
             WHERE kind = ?1 AND (?2 IS NULL OR namespace = ?2) ORDER BY namespace, name",
        )?;
        let rows = stmt.query_map(params![kind, namespace], stored_from_row)?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let writes = {
        let mut stmt = tx.prepare_cached(
            "SELECT type, namespace, name, revision, prev_uid, prev_revision, prev_json FROM events
             WHERE kind = ?1 AND revision > ?3 AND (?2 IS NULL OR namespace = ?2) ORDER BY revision",
        )?;
        let rows = stmt.query_map(params![kind, namespace, revision], |r| {
            let key = Key::new(kind, r.get::<_, String>(1)?, r.get::<_, String>(2)?);
            let prev = match (
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<Vec<u8>>>(6)?,
            ) {
                (Some(uid), Some(revision), Some(json)) => Some(Stored {
                    key: key.clone(),
                    uid,
                    revision,
                    json,
                }),
                _ => None,
            };
            Ok(Written {
                key,
                kind: event_type(r, 0)?,
                revision: r.get(3)?,
                prev,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    tx.finish()?;
    history::rebuild(current, writes, revision)
}

/// The event type in column `at`.
fn event_type(r: &Row<'_>, at: usize) -> rusqlite::Result<EventType> {
    let kind: String = r.get(at)?;
    EventType::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            at,
            rusqlite::types::Type::Text,
            format!("event type {kind:?}").into(),
        )
    })
}

/// A page of the event log after `after`, refused when `after` is behind the compaction
/// point (the events right after it are gone, so the watcher could not see them).
pub(super) fn read_after(
    c: &mut Connection,
    kind: Option<&str>,
    after: i64,
    limit: usize,
) -> Result<LogPage, StoreError> {
    let tx = c.transaction()?;
    let compacted = meta(&tx, "compacted")?;
    if after < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            oldest: compacted,
        });
    }
    let revision = meta(&tx, "revision")?;
    let events = {
        // Two statements rather than `?2 IS NULL OR kind = ?2`, so that a watch of a rare
        // kind walks the (kind, revision) index instead of every later event.
        let mut stmt = tx.prepare_cached(match kind {
            Some(_) => {
                "SELECT type, kind, namespace, name, uid, revision, json FROM events
                 WHERE kind = ?2 AND revision > ?1 ORDER BY revision LIMIT ?3"
            }
            None => {
                "SELECT type, kind, namespace, name, uid, revision, json FROM events
                 WHERE revision > ?1 AND ?2 IS NULL ORDER BY revision LIMIT ?3"
            }
        })?;
        let rows = stmt.query_map(params![after, kind, limit as i64], |r| {
            Ok(Event {
                kind: event_type(r, 0)?,
                object: stored_from_row_at(r, 1)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    tx.finish()?;
    Ok(LogPage::new(events, limit, revision))
}

/// Every object of every kind, in the order they were last written (for `migrate`).
pub(super) fn dump(c: &mut Connection) -> Result<Vec<Stored>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT kind, namespace, name, uid, revision, json FROM objects ORDER BY revision",
    )?;
    let rows = stmt.query_map([], stored_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn stored_from_row(r: &Row<'_>) -> rusqlite::Result<Stored> {
    stored_from_row_at(r, 0)
}

/// Reads `kind, namespace, name, uid, revision, json` starting at column `at`.
fn stored_from_row_at(r: &Row<'_>, at: usize) -> rusqlite::Result<Stored> {
    Ok(Stored {
        key: Key {
            kind: r.get(at)?,
            namespace: r.get(at + 1)?,
            name: r.get(at + 2)?,
        },
        uid: r.get(at + 3)?,
        revision: r.get(at + 4)?,
        json: r.get(at + 5)?,
    })
}
