//! The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so a
//! write is acknowledged only once its WAL frame is fsync'd: it survives `kill -9` of the
//! server and a power cut.
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool. There is one writer
//! connection (SQLite serialises writers anyway, and holding our own lock across the commit
//! and the broadcast is what keeps live events in revision order) and one reader connection
//! (WAL lets it read a consistent snapshot while a write is in progress).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::broadcast;

use super::watch::{self, EventLog, LogPage};
use super::write::Write;
use super::{
    Event, EventStream, EventType, Key, ProgressStream, Store, StoreError, Stored,
    DEFAULT_WATCH_BUFFER,
};

mod ops;

/// Bumped when the schema changes, so a newer binary can migrate an older file.
/// 2: events carry the object as it was before them (`prev_*`, for `list_at`).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    uid TEXT NOT NULL, revision INTEGER NOT NULL, json BLOB NOT NULL,
    PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY, type TEXT NOT NULL,
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    uid TEXT NOT NULL, json BLOB NOT NULL,
    prev_uid TEXT, prev_revision INTEGER, prev_json BLOB
);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, revision);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);
";

/// SQLite-backed [`Store`]. Cheap to clone: clones share the connections and the broadcast.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    events: broadcast::Sender<Event>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(format!("sqlite: {e}"))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, DEFAULT_WATCH_BUFFER)
    }

    /// Like [`open`](Self::open), with `watch_buffer` live events buffered per watcher before
    /// it falls back to re-reading the log (tests use a tiny one to exercise that path).
    pub fn open_with(path: impl AsRef<Path>, watch_buffer: usize) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let writer = Connection::open(&path)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "sqlite: {} refused WAL mode (got {mode}); is it on a filesystem without shared memory?",
                path.display()
            )));
        }
        writer.pragma_update(None, "synchronous", "FULL")?;
        // Deleted and overwritten content is zeroed, so a value replaced (a Secret sealed
        // at start-up, store/encryption) does not linger in free pages.
        writer.pragma_update(None, "secure_delete", true)?;
        writer.busy_timeout(Duration::from_secs(5))?;
        let version: i64 = writer.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "sqlite: {} has schema version {version}, newer than this binary's {SCHEMA_VERSION}",
                path.display()
            )));
        }
        writer.execute_batch(SCHEMA)?;
        ops::add_prev_columns(&writer)?;
        writer.pragma_update(None, "user_version", SCHEMA_VERSION)?;

        let reader = Connection::open(&path)?;
        reader.busy_timeout(Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", true)?;

        let (events, _) = broadcast::channel(watch_buffer.max(1));
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                events,
            }),
        };
        let revision = store.inner.with_reader(|c| ops::meta(c, "revision"))?;
        tracing::info!(path = %store.inner.path.display(), revision, "sqlite store opened");
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the blocking pool with the store's inner state.
    fn blocking<T, F>(&self, f: F) -> BoxFuture<'static, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&inner))
                .await
                .map_err(|e| StoreError::Backend(format!("sqlite worker: {e}")))?
        })
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves the connection usable: any open transaction
    // was rolled back when it was dropped during the unwind.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut lock(&self.reader))
    }

    /// One write: a single IMMEDIATE transaction that takes the next revision, reads the
    /// object, applies the event `write` makes of it to the objects table, appends the
    /// event and bumps the counter; then, still under the writer lock so that live events
    /// leave in revision order, broadcasts the event.
    fn write(&self, key: Key, write: Write) -> Result<Stored, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let revision = ops::meta(&tx, "revision")? + 1;
        let current = ops::get(&tx, &key)?;
        let event = write.event(key, current.as_ref(), revision)?;
        match event.kind {
            EventType::Deleted => ops::delete_object(&tx, &event.object.key)?,
            _ => ops::put_object(&tx, &event.object)?,
        }
        ops::append_event(&tx, &event, current.as_ref())?;
        ops::set_meta(&tx, "revision", revision)?;
        tx.commit()?;
        tracing::debug!(key = %event.object.key, revision, event = event.kind.as_str(), "store write");
        let stored = event.object.clone();
        // No receiver is not an error: nobody is watching.
        let _ = self.events.send(event);
        Ok(stored)
    }
}

impl EventLog for SqliteStore {
    fn read_after(
        &self,
        kind: Option<String>,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<LogPage, StoreError>> {
        self.blocking(move |inner| {
            inner.with_reader(|c| ops::read_after(c, kind.as_deref(), after, limit))
        })
    }
}

impl Store for SqliteStore {
    fn get(&self, key: &Key) -> BoxFuture<'_, Result<Option<Stored>, StoreError>> {
        let key = key.clone();
        self.blocking(move |inner| inner.with_reader(|c| ops::get(c, &key)))
    }

    fn list(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> BoxFuture<'_, Result<(Vec<Stored>, i64), StoreError>> {
        let (kind, namespace) = (kind.to_owned(), namespace.map(str::to_owned));
        self.blocking(move |inner| inner.with_reader(|c| ops::list(c, &kind, namespace.as_deref())))
    }

    fn create(
        &self,
        key: Key,
        uid: String,
        json: Vec<u8>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.blocking(move |inner| inner.write(key, Write::Create { uid, json }))
    }

    fn update(
        &self,
        key: Key,
        json: Vec<u8>,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.blocking(move |inner| inner.write(key, Write::Update { json, expected }))
    }

    fn delete(
        &self,
        key: &Key,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        let key = key.clone();
        self.blocking(move |inner| inner.write(key, Write::Delete { expected }))
    }

    fn watch(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<EventStream, StoreError>> {
        watch::events_only(watch::watch(self, &self.inner.events, kind, from))
    }

    fn watch_progress(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<ProgressStream, StoreError>> {
        watch::watch(self, &self.inner.events, kind, from)
    }

    fn list_at(
        &self,
        kind: &str,
        namespace: Option<&str>,
        revision: i64,
    ) -> BoxFuture<'_, Result<Vec<Stored>, StoreError>> {
        let (kind, namespace) = (kind.to_owned(), namespace.map(str::to_owned));
        self.blocking(move |inner| {
            inner.with_reader(|c| ops::list_at(c, &kind, namespace.as_deref(), revision))
        })
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.blocking(|inner| inner.with_reader(|c| ops::meta(c, "revision")))
    }

    fn compacted_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.blocking(|inner| inner.with_reader(|c| ops::meta(c, "compacted")))
    }

    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.blocking(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let target = revision.min(ops::meta(&tx, "revision")?);
            let compacted = ops::meta(&tx, "compacted")?;
            if target <= compacted {
                return Ok(());
            }
            let removed = tx.execute("DELETE FROM events WHERE revision <= ?1", [target])?;
            ops::set_meta(&tx, "compacted", target)?;
            tx.commit()?;
            tracing::info!(revision = target, removed, "event log compacted");
            Ok(())
        })
    }
}

impl SqliteStore {
    /// Rewrites the file without free pages and empties the WAL, so nothing replaced or
    /// deleted survives in either (after Secrets are sealed at start-up).
    pub fn scrub(&self) -> Result<(), StoreError> {
        let conn = lock(&self.inner.writer);
        conn.execute_batch("VACUUM")?;
        conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
        Ok(())
    }

    /// Every object, as stored (sealed Secrets stay sealed), oldest write first.
    pub async fn dump(&self) -> Result<Vec<Stored>, StoreError> {
        self.blocking(|inner| inner.with_reader(ops::dump)).await
    }
}

#[cfg(test)]
impl SqliteStore {
    /// A pragma as the writer connection sees it: durability rests on `journal_mode` and
    /// `synchronous`, which are per connection, so only the store itself can show them.
    pub(crate) fn writer_pragma<T: rusqlite::types::FromSql>(&self, name: &str) -> T {
        lock(&self.inner.writer)
            .pragma_query_value(None, name, |r| r.get(0))
            .unwrap()
    }
}
