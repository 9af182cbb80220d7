//! The control plane's store (docs/architecture.md, Control plane layers): revisioned
//! objects behind a trait.
//!
//! The model is etcd's, so that an etcd backend can slot in later without the API server
//! or the controllers noticing:
//! - one global revision counter; every write (create, update, delete) takes the next
//!   revision, and an object's `resourceVersion` is the revision of its last write;
//! - compare-and-swap on that revision (optimistic concurrency: a stale `resourceVersion`
//!   is refused with [`StoreError::Conflict`]);
//! - an event log keyed by revision, so a watch can resume from any revision that has not
//!   been compacted away, and a caller that fell behind the compaction point relists
//!   ([`StoreError::Compacted`]).
//!
//! Objects are opaque bytes here: writing `metadata.resourceVersion` into the JSON is the
//! API layer's concern (it sets it from [`Stored::revision`] when serving), which keeps the
//! store from having to parse and re-serialise every object on every write.
//!
//! Backends: [`SqliteStore`] (the embedded default, durable across `kill -9`),
//! [`EtcdStore`] (several servers on one etcd, `etcd/`) and [`MemoryStore`] (same
//! semantics, for tests of the layers above); [`EncryptedStore`] wraps any of them and
//! seals Secrets at rest (`encryption/`). `migrate` copies a SQLite store into etcd.

use std::fmt;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use futures::future::BoxFuture;
pub use futures::stream::BoxStream;

mod compactor;
pub mod encryption;
pub mod etcd;
mod follow;
mod history;
mod memory;
pub mod migrate;
mod modify;
mod sqlite;
mod watch;
mod write;

#[cfg(test)]
mod tests;

pub use compactor::{compact_keeping, spawn_compactor};
pub use encryption::EncryptedStore;
pub use etcd::{EtcdStore, EtcdTls};
pub use follow::{follow_kinds, Notice};
pub use memory::MemoryStore;
pub use modify::{
    modify, modify_stored, read_decide_write, Done, Edit, Modified, Step, CAS_ATTEMPTS,
};
pub use sqlite::SqliteStore;

/// How many live events a watcher may fall behind before it re-reads the event log.
/// Large enough that a healthy watcher never lags; a lagging one costs a table read, not
/// a lost event.
pub const DEFAULT_WATCH_BUFFER: usize = 1024;

/// Identifies an object: kind ("Pod", "Deployment", ...), namespace ("" for cluster-scoped
/// kinds), name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Key {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for Key {
    /// `Pod/default/web-1`, or `Node/n1` for cluster-scoped kinds: what logs and errors show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// An object as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub key: Key,
    pub uid: String,
    /// The object's resourceVersion: the global revision of its last write.
    pub revision: i64,
    pub json: Vec<u8>,
}

impl Stored {
    /// The stored JSON as `T`, as it is (no uid or resourceVersion filled in).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        serde_json::from_slice(&self.json).map_err(|source| DecodeError {
            key: self.key.clone(),
            source,
        })
    }
}

/// A stored object that does not decode as its kind: someone wrote garbage past the API's
/// validation, or a bug. The layers above wrap it in their own errors.
#[derive(Debug, thiserror::Error)]
#[error("stored {key} does not decode: {source}")]
pub struct DecodeError {
    pub key: Key,
    pub source: serde_json::Error,
}

/// Decodes a stored object, with uid and resourceVersion from the store: the stored JSON
/// need not carry them (the revision is the truth, see the module docs).
pub fn decode<T>(stored: &Stored) -> Result<T, DecodeError>
where
    T: DeserializeOwned + Metadata<Ty = ObjectMeta>,
{
    let mut object: T = stored.parse()?;
    let meta = object.metadata_mut();
    meta.uid = Some(stored.uid.clone());
    meta.resource_version = Some(stored.revision.to_string());
    Ok(object)
}

/// JSON for the store, without `metadata.resourceVersion` (it would only go stale).
pub fn encode<T: Serialize>(object: &T) -> Vec<u8> {
    let mut value = serde_json::to_value(object).expect("k8s-openapi types serialize");
    if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The name stored in the event log (and the one Kubernetes watch events use).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ADDED" => Some(EventType::Added),
            "MODIFIED" => Some(EventType::Modified),
            "DELETED" => Some(EventType::Deleted),
            _ => None,
        }
    }
}

/// One committed write, as a watcher sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    /// The object after the write. For `Deleted`: its last state, with the deletion's
    /// revision (so a watcher can resume after it).
    pub object: Stored,
}

impl Event {
    pub fn revision(&self) -> i64 {
        self.object.revision
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(Key),
    #[error("{0} already exists")]
    AlreadyExists(Key),
    /// The caller read `expected` but the object is now at `actual`: it must re-read and retry.
    #[error("{key} was modified: expected resourceVersion {expected}, it is {actual}")]
    Conflict {
        key: Key,
        expected: i64,
        actual: i64,
    },
    /// The events after `requested` are gone; the oldest revision a watch can start from
    /// is `oldest`. The caller relists and watches from the list's revision.
    #[error("revision {requested} has been compacted; the oldest watchable revision is {oldest}")]
    Compacted { requested: i64, oldest: i64 },
    /// The backend failed (I/O, corruption, a panicked worker): not the caller's fault.
    #[error("store backend: {0}")]
    Backend(String),
}

/// A stream of events in revision order; it ends only with an error item (after which
/// nothing more comes) or when dropped.
pub type EventStream = BoxStream<'static, Result<Event, StoreError>>;

/// What a watch with progress reports: the events, and how far the log has been read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watched {
    Event(Event),
    /// Every event of the watched kind up to this revision has been yielded: events of
    /// other kinds advance it too, so a watcher of a quiet kind can resume from a recent
    /// revision (a BOOKMARK's resourceVersion) instead of one that gets compacted away.
    Progress(i64),
}

/// [`EventStream`] with progress reports between the events (as etcd's progress notify).
pub type ProgressStream = BoxStream<'static, Result<Watched, StoreError>>;

/// The store contract. Object-safe (boxed futures) so the server holds an
/// `Arc<dyn Store>` and the backend is picked at startup (`--store sqlite|etcd://...`).
/// The futures own their arguments, so they borrow only `self`.
pub trait Store: Send + Sync + 'static {
    fn get(&self, key: &Key) -> BoxFuture<'_, Result<Option<Stored>, StoreError>>;

    /// All objects of a kind (in a namespace, or in all when `None`), sorted by key, and the
    /// revision the list is consistent at: watch from it to see every later change.
    fn list(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> BoxFuture<'_, Result<(Vec<Stored>, i64), StoreError>>;

    /// Fails with `AlreadyExists`. The store assigns the revision; the caller gives uid and json.
    fn create(
        &self,
        key: Key,
        uid: String,
        json: Vec<u8>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>>;

    /// Compare-and-swap: `expected` is the revision the caller read (`None` = unconditional).
    /// `Conflict` when it differs, `NotFound` when the object is gone. Keeps the uid.
    fn update(
        &self,
        key: Key,
        json: Vec<u8>,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>>;

    /// Removes the object; returns its last state with the deletion's revision.
    fn delete(&self, key: &Key, expected: Option<i64>)
        -> BoxFuture<'_, Result<Stored, StoreError>>;

    /// Events with revision > `from` (catch-up from the log), then live events, in revision
    /// order, never skipping one, filtered by kind (`None` = all). A `from` older than the
    /// compaction point fails with `Compacted` (the caller relists). A watcher that falls
    /// behind the live buffer re-reads the log transparently; only if that part of the log
    /// was compacted meanwhile does the stream yield `Compacted` and end.
    fn watch(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<EventStream, StoreError>>;

    /// [`watch`](Self::watch), with [`Watched::Progress`] reports between the events when
    /// the watcher has read the log past events of other kinds (at most one per burst).
    /// A backend without progress (a test fake) reports only the events.
    fn watch_progress(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<ProgressStream, StoreError>> {
        let watch = self.watch(kind, from);
        Box::pin(async move {
            let events = watch.await?;
            Ok(futures::StreamExt::boxed(futures::StreamExt::map(
                events,
                |event| event.map(Watched::Event),
            )))
        })
    }

    /// The objects of a kind (in a namespace, or all) as they were at `revision`, sorted by
    /// key: what a paginated list's later pages show (etcd's read at a revision). Rebuilt
    /// from the current objects and the event log after `revision`, so a `revision` older
    /// than the compaction point fails with `Compacted`; one past the current revision
    /// reads the current state.
    fn list_at(
        &self,
        kind: &str,
        namespace: Option<&str>,
        revision: i64,
    ) -> BoxFuture<'_, Result<Vec<Stored>, StoreError>> {
        let _ = (kind, namespace, revision);
        Box::pin(async {
            Err(StoreError::Backend(
                "this store cannot read at a past revision".into(),
            ))
        })
    }

    /// The revision of the last committed write (0 for an empty store; 1 for an empty etcd,
    /// whose revisions the etcd store keeps as they are).
    fn current_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>>;

    /// The compaction point: watches must start at or after it (0 = never compacted).
    fn compacted_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>>;

    /// Drops the event log up to and including `revision` (objects stay). Idempotent; a
    /// revision past the current one compacts to the current one.
    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Writes `n` small objects one after the other and returns how long it took: a hook for
/// a benchmark command (timed figures are printed, never asserted in tests).
pub async fn bench_writes(store: &dyn Store, n: usize) -> Result<Duration, StoreError> {
    let start = std::time::Instant::now();
    for i in 0..n {
        let key = Key::new("BenchObject", "bench", format!("obj-{i}"));
        store
            .create(key, format!("uid-{i}"), br#"{"spec":{}}"#.to_vec())
            .await?;
    }
    Ok(start.elapsed())
}
