//! The conformance suite: every case runs against every backend, so the memory store that
//! the API and controller tests lean on behaves exactly like the SQLite one in production.
//! SQLite-only properties (reopening, `kill -9`) live in `durability`. The etcd backend runs
//! against a real etcd, one private process per store (compaction is etcd-wide); without
//! etcd installed its cases skip (and fail under `CI=true`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::etcd::process::EtcdProcess;
use super::{EtcdStore, Event, EventStream, Key, MemoryStore, SqliteStore, Store};

mod crud;
mod durability;
mod history;
mod progress;
mod retry;
mod watch;

/// Opens a fresh, empty store of the backend under test with the given watch buffer.
pub(super) type Open<'a> = &'a (dyn Fn(usize) -> Arc<dyn Store> + Sync);

/// Generous: a case that needs it is broken, not slow.
const TIMEOUT: Duration = Duration::from_secs(30);

macro_rules! conformance {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod memory_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let open = |buffer| super::memory(buffer);
                    super::$module::$case(&open).await
                }
            )*
        }
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let open = |buffer| super::sqlite(dir.path(), buffer);
                    super::$module::$case(&open).await
                }
            )*
        }
        mod etcd_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if !crate::store::etcd::process::require_etcd() {
                        return;
                    }
                    let dir = tempfile::tempdir().unwrap();
                    let etcds = std::sync::Mutex::new(vec![]);
                    let open = |buffer| super::etcd(dir.path(), &etcds, buffer);
                    super::$module::$case(&open).await
                }
            )*
        }
    };
}

conformance!(
    crud::create_get_list,
    crud::create_existing_is_refused,
    crud::update_compares_revision,
    crud::delete_compares_revision,
    crud::revisions_strictly_increase,
    crud::list_revision_is_a_watch_starting_point,
    crud::concurrent_writes_each_get_their_own_outcome,
    watch::watch_from_zero_sees_everything_in_order,
    watch::watch_from_the_middle,
    watch::watch_from_a_compacted_revision_is_refused,
    watch::kind_filter,
    watch::catch_up_spans_several_pages,
    watch::live_events_follow_catch_up_under_concurrent_writes,
    watch::lagging_watcher_rereads_the_log,
    watch::lagging_watcher_behind_compaction_gets_compacted,
    watch::compactor_keeps_the_last_revisions,
    progress::other_kinds_writes_advance_progress,
    progress::a_resumed_watch_reports_the_log_it_read,
    progress::progress_never_passes_an_undelivered_event,
    history::list_at_shows_the_state_at_a_revision,
    history::list_at_a_compacted_revision_is_refused,
);

fn memory(buffer: usize) -> Arc<dyn Store> {
    Arc::new(MemoryStore::with_watch_buffer(buffer))
}

fn sqlite(dir: &std::path::Path, buffer: usize) -> Arc<dyn Store> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = dir.join(format!("store-{}.db", N.fetch_add(1, Ordering::Relaxed)));
    Arc::new(SqliteStore::open_with(path, buffer).unwrap())
}

/// A fresh etcd of its own (kept alive in `etcds` until the case ends) and a store on it.
fn etcd(
    dir: &std::path::Path,
    etcds: &std::sync::Mutex<Vec<EtcdProcess>>,
    buffer: usize,
) -> Arc<dyn Store> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = dir.join(format!("etcd-{}", N.fetch_add(1, Ordering::Relaxed)));
    let etcd = EtcdProcess::start_single(&dir).expect("etcd starts");
    let endpoints = [etcd.client_url().to_string()];
    let store = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(EtcdStore::connect(&endpoints, None))
    })
    .expect("connects to etcd");
    etcds.lock().unwrap().push(etcd);
    Arc::new(store.with_watch_buffer(buffer))
}

fn pod(namespace: &str, name: &str) -> Key {
    Key::new("Pod", namespace, name)
}

fn json(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

/// Takes the next `n` events, failing the test on an error item, an early end or a stall.
async fn take(stream: &mut EventStream, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        let next = tokio::time::timeout(TIMEOUT, stream.next()).await;
        match next.expect("watch stalled") {
            Some(Ok(e)) => events.push(e),
            Some(Err(e)) => panic!("watch failed after {} events: {e}", events.len()),
            None => panic!("watch ended after {} events", events.len()),
        }
    }
    events
}

/// Asserts nothing more arrives within a short while.
async fn assert_quiet(stream: &mut EventStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
        panic!("unexpected watch item: {item:?}");
    }
}
