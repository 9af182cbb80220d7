//! Watches on etcd with the trait's semantics.
//!
//! A driver task reads the etcd watch (with `prev_kv`, so a deletion carries the object's
//! last state) into a channel of `watch_buffer` items. Catching up to the revision etcd
//! reported when the watch started, it waits for the consumer; past it (live), a full
//! channel means the consumer lags: the driver stops, and the consumer drops what was
//! buffered and starts a new etcd watch from the last revision it yielded (etcd re-reads
//! its history), or yields `Compacted` and ends if that history is gone. A broken etcd
//! stream (endpoint down, no leader) is re-opened from the last revision sent, so a
//! watch outlives a lost quorum.
//!
//! Progress: a progress watch watches every kind and filters client-side, so other kinds'
//! writes become `Watched::Progress` (one per etcd response), as do etcd's progress
//! notifications for quiet periods. A plain watch watches the kind's prefix only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{EventType as EtcdEventType, WatchOptions, WatchResponse};
use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{keys, EtcdStore};
use crate::store::{Event, EventStream, EventType, ProgressStream, StoreError, Stored, Watched};

/// What one watch asks etcd for.
struct Spec {
    prefix: Vec<u8>,
    /// Filtered here rather than by etcd (progress watches).
    kind: Option<String>,
    progress: bool,
}

pub(super) async fn events(
    store: &EtcdStore,
    kind: Option<String>,
    from: i64,
) -> Result<EventStream, StoreError> {
    let prefix = match &kind {
        Some(kind) => keys::range(kind, None),
        None => keys::all(),
    };
    let spec = Spec {
        prefix,
        kind: None,
        progress: false,
    };
    let stream = open(store, spec, from).await?;
    Ok(stream
        .filter_map(|item| {
            futures::future::ready(match item {
                Ok(Watched::Event(event)) => Some(Ok(event)),
                Ok(Watched::Progress(_)) => None,
                Err(e) => Some(Err(e)),
            })
        })
        .boxed())
}

pub(super) async fn with_progress(
    store: &EtcdStore,
    kind: Option<String>,
    from: i64,
) -> Result<ProgressStream, StoreError> {
    let spec = Spec {
        prefix: keys::all(),
        kind,
        progress: true,
    };
    open(store, spec, from).await
}

type Item = Result<Watched, StoreError>;

/// The consumer's side of one watch.
struct Consumer {
    store: EtcdStore,
    spec: Arc<Spec>,
    /// The last revision yielded (event or progress).
    at: i64,
    rx: mpsc::Receiver<Item>,
    lagged: Arc<AtomicBool>,
    driver: tokio::task::JoinHandle<()>,
    done: bool,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

async fn open(store: &EtcdStore, spec: Spec, from: i64) -> Result<ProgressStream, StoreError> {
    if !store.readable_at(from.max(1)).await? {
        return Err(store.compacted_error(from).await);
    }
    let spec = Arc::new(spec);
    let (rx, lagged, driver) = spawn_driver(store, &spec, from);
    let consumer = Consumer {
        store: store.clone(),
        spec,
        at: from,
        rx,
        lagged,
        driver,
        done: false,
    };
    Ok(futures::stream::unfold(consumer, next).boxed())
}

fn spawn_driver(
    store: &EtcdStore,
    spec: &Arc<Spec>,
    from: i64,
) -> (
    mpsc::Receiver<Item>,
    Arc<AtomicBool>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(store.watch_buffer);
    let lagged = Arc::new(AtomicBool::new(false));
    let driver = tokio::spawn(drive(store.clone(), spec.clone(), from, tx, lagged.clone()));
    (rx, lagged, driver)
}

async fn next(mut c: Consumer) -> Option<(Item, Consumer)> {
    if c.done {
        return None;
    }
    loop {
        if c.lagged.load(Ordering::Acquire) {
            // Fell behind: what was buffered is dropped and etcd's history re-read.
            debug!(at = c.at, "etcd watcher lagged; re-reading from etcd");
            c.driver.abort();
            match c.store.readable_at(c.at.max(1)).await {
                Ok(true) => {}
                Ok(false) => {
                    c.done = true;
                    let err = c.store.compacted_error(c.at).await;
                    return Some((Err(err), c));
                }
                Err(e) => {
                    warn!(error = %e, "etcd watch restart failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
            let (rx, lagged, driver) = spawn_driver(&c.store, &c.spec, c.at);
            (c.rx, c.lagged, c.driver) = (rx, lagged, driver);
            continue;
        }
        match c.rx.recv().await {
            Some(Ok(item)) => {
                if c.lagged.load(Ordering::Acquire) {
                    continue;
                }
                c.at = revision(&item);
                return Some((Ok(item), c));
            }
            Some(Err(e)) => {
                c.done = true;
                return Some((Err(e), c));
            }
            None if c.lagged.load(Ordering::Acquire) => continue,
            None => return None,
        }
    }
}

fn revision(item: &Watched) -> i64 {
    match item {
        Watched::Event(event) => event.revision(),
        Watched::Progress(revision) => *revision,
    }
}

/// Reads etcd's watch from `from` (exclusive) into `tx`, re-opening it when it breaks.
async fn drive(
    store: EtcdStore,
    spec: Arc<Spec>,
    from: i64,
    tx: mpsc::Sender<Item>,
    lagged: Arc<AtomicBool>,
) {
    let mut at = from;
    // An outage breaks every watch at once: one warning each, then quieter retries.
    let mut failures = 0u32;
    loop {
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(at + 1)
            .with_prev_key()
            .with_progress_notify();
        let mut stream = match store
            .client
            .watch_client()
            .watch(spec.prefix.clone(), Some(options))
            .await
        {
            Ok(stream) => stream,
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    warn!(error = %e, at, "etcd watch failed to open; retrying every 1s");
                } else {
                    debug!(error = %e, at, failures, "etcd watch still failing to open");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Up to here the consumer is caught up with back-pressure; past it, it is live.
        let mut catch_up_to = i64::MAX;
        loop {
            let response = match stream.message().await {
                Ok(Some(response)) => response,
                Ok(None) => {
                    warn!(at, "etcd watch stream ended; re-opening");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, at, "etcd watch broke; re-opening");
                    break;
                }
            };
            let header = response.header().map_or(0, |h| h.revision());
            if response.created() {
                catch_up_to = header;
                if failures > 0 {
                    info!(at, "etcd watch re-opened");
                    failures = 0;
                }
            }
            if response.compact_revision() > 0 {
                let err = StoreError::Compacted {
                    requested: at,
                    oldest: response.compact_revision(),
                };
                let _ = tx.send(Err(err)).await;
                return;
            }
            if response.canceled() {
                warn!(
                    reason = response.cancel_reason(),
                    at, "etcd cancelled the watch; re-opening"
                );
                break;
            }
            let (items, last) = convert(&spec, &response, at, header);
            for item in items {
                let revision = revision(&item);
                if revision <= catch_up_to {
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                } else {
                    match tx.try_send(Ok(item)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            lagged.store(true, Ordering::Release);
                            return;
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
            }
            at = at.max(last);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One etcd response as watch items, and the last revision it covers. Events of other
/// kinds (progress watches) become one progress report at the end, if nothing of the kind
/// follows them; an empty, non-creation response is etcd's progress notification.
fn convert(spec: &Spec, response: &WatchResponse, at: i64, header: i64) -> (Vec<Watched>, i64) {
    let mut items = vec![];
    let mut last = at;
    let mut skipped = None;
    for event in response.events() {
        let Some(kv) = event.kv() else { continue };
        let revision = kv.mod_revision();
        last = last.max(revision);
        let key = match keys::parse(kv.key()) {
            Ok(key) => key,
            Err(e) => {
                warn!(error = %e, "skipping a foreign key in etcd's watch");
                skipped = Some(revision);
                continue;
            }
        };
        if spec.kind.as_ref().is_some_and(|kind| *kind != key.kind) {
            skipped = Some(revision);
            continue;
        }
        skipped = None;
        let event = match event.event_type() {
            EtcdEventType::Put => {
                let kind = if kv.create_revision() == revision {
                    EventType::Added
                } else {
                    EventType::Modified
                };
                match keys::stored(kv.key(), kv.value(), revision) {
                    Ok(object) => Event { kind, object },
                    Err(e) => {
                        warn!(error = %e, "skipping an undecodable value in etcd's watch");
                        continue;
                    }
                }
            }
            EtcdEventType::Delete => {
                let object = event
                    .prev_kv()
                    .and_then(|prev| keys::stored(prev.key(), prev.value(), revision).ok())
                    .unwrap_or_else(|| {
                        // etcd omits prev_kv when that revision is compacted already.
                        warn!(%key, revision, "deletion without the previous value");
                        Stored {
                            key: key.clone(),
                            uid: String::new(),
                            revision,
                            json: b"{}".to_vec(),
                        }
                    });
                Event {
                    kind: EventType::Deleted,
                    object,
                }
            }
        };
        items.push(Watched::Event(event));
    }
    if spec.progress {
        if let Some(revision) = skipped {
            items.push(Watched::Progress(revision));
        } else if response.events().is_empty() && !response.created() && header > last {
            items.push(Watched::Progress(header));
            last = header;
        }
    }
    (items, last)
}
