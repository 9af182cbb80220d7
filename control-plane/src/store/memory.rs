//! An in-memory [`Store`] with the same semantics as the SQLite one (the conformance suite
//! runs against both), for tests of the API server and the controllers: no files, no
//! blocking pool, and nothing survives the process.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::{self, BoxFuture, FutureExt};
use tokio::sync::broadcast;

use super::history::{self, Written};
use super::watch::{self, EventLog, LogPage};
use super::write::Write;
use super::{
    Event, EventStream, EventType, Key, ProgressStream, Store, StoreError, Stored,
    DEFAULT_WATCH_BUFFER,
};

/// In-memory [`Store`]. Cheap to clone: clones share the state.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
}

/// An event and the object as it was before it (for [`Store::list_at`]).
struct Logged {
    event: Event,
    prev: Option<Stored>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Stored>,
    /// Events with revisions `compacted + 1 ..= revision`, contiguous, oldest first.
    log: VecDeque<Logged>,
    revision: i64,
    compacted: i64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::with_watch_buffer(DEFAULT_WATCH_BUFFER)
    }

    /// `watch_buffer` live events are buffered per watcher before it re-reads the log.
    pub fn with_watch_buffer(watch_buffer: usize) -> Self {
        let (events, _) = broadcast::channel(watch_buffer.max(1));
        MemoryStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                events,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every mutation below completes before it can panic, so a poisoned state is whole.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one write under the lock: the object map, the log and the counter change
    /// together, and the event is broadcast before the lock is released so that live
    /// events leave in revision order.
    fn write(&self, key: Key, write: Write) -> BoxFuture<'static, Result<Stored, StoreError>> {
        let mut state = self.state();
        let revision = state.revision + 1;
        let current = state.objects.get(&key);
        let prev = current.cloned();
        let result = write.event(key, current, revision).map(|event| {
            let key = event.object.key.clone();
            match event.kind {
                EventType::Deleted => state.objects.remove(&key),
                _ => state.objects.insert(key, event.object.clone()),
            };
            state.revision = revision;
            state.log.push_back(Logged {
                event: event.clone(),
                prev,
            });
            let stored = event.object.clone();
            let _ = self.inner.events.send(event);
            stored
        });
        future::ready(result).boxed()
    }
}

impl EventLog for MemoryStore {
    fn read_after(
        &self,
        kind: Option<String>,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<LogPage, StoreError>> {
        let state = self.state();
        if after < state.compacted {
            return future::ready(Err(StoreError::Compacted {
                requested: after,
                oldest: state.compacted,
            }))
            .boxed();
        }
        // The log is contiguous, so the first event after `after` sits at a known index.
        let start = usize::try_from(after - state.compacted).unwrap_or(0);
        let events: Vec<Event> = state
            .log
            .iter()
            .skip(start)
            .map(|logged| &logged.event)
            .filter(|e| kind.as_deref().is_none_or(|k| k == e.object.key.kind))
            .take(limit)
            .cloned()
            .collect();
        future::ready(Ok(LogPage::new(events, limit, state.revision))).boxed()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &Key) -> BoxFuture<'_, Result<Option<Stored>, StoreError>> {
        let found = self.state().objects.get(key).cloned();
        future::ready(Ok(found)).boxed()
    }

    fn list(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> BoxFuture<'_, Result<(Vec<Stored>, i64), StoreError>> {
        let state = self.state();
        let start = Key::new(kind, namespace.unwrap_or(""), "");
        let objects = state
            .objects
            .range(start..)
            .map(|(_, o)| o)
            .take_while(|o| o.key.kind == kind && namespace.is_none_or(|ns| ns == o.key.namespace))
            .cloned()
            .collect();
        future::ready(Ok((objects, state.revision))).boxed()
    }

    fn create(
        &self,
        key: Key,
        uid: String,
        json: Vec<u8>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.write(key, Write::Create { uid, json })
    }

    fn update(
        &self,
        key: Key,
        json: Vec<u8>,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.write(key, Write::Update { json, expected })
    }

    fn delete(
        &self,
        key: &Key,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.write(key.clone(), Write::Delete { expected })
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
        let state = self.state();
        if revision < state.compacted {
            return future::ready(Err(StoreError::Compacted {
                requested: revision,
                oldest: state.compacted,
            }))
            .boxed();
        }
        let current = state
            .objects
            .values()
            .filter(|o| history::in_list(&o.key, kind, namespace))
            .cloned()
            .collect();
        let start = usize::try_from(revision - state.compacted).unwrap_or(0);
        let writes = state
            .log
            .iter()
            .skip(start)
            .filter(|l| history::in_list(&l.event.object.key, kind, namespace))
            .map(|l| Written {
                key: l.event.object.key.clone(),
                kind: l.event.kind,
                revision: l.event.revision(),
                prev: l.prev.clone(),
            });
        future::ready(history::rebuild(current, writes, revision)).boxed()
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        future::ready(Ok(self.state().revision)).boxed()
    }

    fn compacted_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        future::ready(Ok(self.state().compacted)).boxed()
    }

    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        let mut state = self.state();
        let target = revision.min(state.revision);
        while state
            .log
            .front()
            .is_some_and(|l| l.event.revision() <= target)
        {
            state.log.pop_front();
        }
        state.compacted = state.compacted.max(target);
        future::ready(Ok(())).boxed()
    }
}
