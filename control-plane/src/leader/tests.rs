//! Two electors on one MemoryStore: one leads, the other takes over when the first stops
//! renewing or releases, and the two never lead at once. Loops run on tokio's paused
//! clock with a [`Clock`] that follows it, so the 15 s leases take no real time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use super::*;
use crate::core::{Clock, ManualClock};
use crate::store::{BoxFuture, EventStream, Key, MemoryStore, Store, StoreError, Stored};

const LEASE: Duration = Duration::from_secs(15);

fn start() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn elector(store: &Arc<dyn Store>, clock: &Arc<dyn Clock>, id: &str) -> Elector {
    Elector::new(store.clone(), clock.clone(), LeaseConfig::leader(id, LEASE))
}

async fn holder(store: &dyn Store) -> Option<String> {
    let stored = store
        .get(&Key::new("Lease", LEASE_NAMESPACE, LEASE_NAME))
        .await
        .unwrap()?;
    let lease: k8s_openapi::api::coordination::v1::Lease = crate::store::decode(&stored).unwrap();
    lease.spec?.holder_identity
}

#[tokio::test]
async fn one_of_two_leads() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(start()));
    let (a, b) = (elector(&store, &clock, "a"), elector(&store, &clock, "b"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(a.try_acquire_or_renew().await.unwrap(), "the holder renews");
    assert_eq!(holder(store.as_ref()).await.as_deref(), Some("a"));
}

#[tokio::test]
async fn the_other_takes_over_once_the_holder_stops_renewing() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let manual = ManualClock::new(start());
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let (a, b) = (elector(&store, &clock, "a"), elector(&store, &clock, "b"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    // a renews for a while: b keeps seeing new revisions, so the lease never expires.
    for _ in 0..10 {
        manual.advance(Duration::from_secs(2));
        assert!(a.try_acquire_or_renew().await.unwrap());
        assert!(!b.try_acquire_or_renew().await.unwrap());
    }
    // a dies (no release): 14 s later the lease still stands, at 15 s it is b's.
    manual.advance(Duration::from_secs(14));
    assert!(!b.try_acquire_or_renew().await.unwrap());
    manual.advance(Duration::from_secs(1));
    assert!(b.try_acquire_or_renew().await.unwrap());
    assert_eq!(holder(store.as_ref()).await.as_deref(), Some("b"));
    // a comes back: the lease is b's and fresh.
    assert!(!a.try_acquire_or_renew().await.unwrap());
    let stored = store
        .get(&Key::new("Lease", LEASE_NAMESPACE, LEASE_NAME))
        .await
        .unwrap()
        .unwrap();
    let lease: k8s_openapi::api::coordination::v1::Lease = crate::store::decode(&stored).unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.lease_transitions, Some(1));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(spec.acquire_time.unwrap().0, clock.now());
}

#[tokio::test]
async fn a_waiting_server_sees_renewals_as_they_commit() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let manual = ManualClock::new(start());
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let (a, b) = (
        elector(&store, &clock, "a"),
        Arc::new(elector(&store, &clock, "b")),
    );
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert_eq!(b.expires_in(), Some(LEASE));
    let follower = tokio::spawn({
        let b = b.clone();
        async move { b.follow().await }
    });
    // a renews 10 s later; b, which has not polled since, counts from that renewal.
    manual.advance(Duration::from_secs(10));
    assert!(a.try_acquire_or_renew().await.unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while b.expires_in() != Some(LEASE) {
        assert!(
            std::time::Instant::now() < deadline,
            "b still counts from its last poll: {:?} left",
            b.expires_in()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // a releases: b may take it at once.
    a.release().await.unwrap();
    while b.expires_in() != Some(Duration::ZERO) {
        assert!(std::time::Instant::now() < deadline, "release not seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    follower.abort();
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(start()));
    let (a, b) = (elector(&store, &clock, "a"), elector(&store, &clock, "b"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    b.release().await.unwrap();
    assert_eq!(
        holder(store.as_ref()).await.as_deref(),
        Some("a"),
        "b held nothing to release"
    );
    a.release().await.unwrap();
    assert_eq!(holder(store.as_ref()).await, None);
    assert!(
        b.try_acquire_or_renew().await.unwrap(),
        "no waiting for the lease to expire"
    );
}

#[tokio::test]
async fn a_restarted_holder_takes_its_own_lease_back_at_once() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(start()));
    assert!(elector(&store, &clock, "a")
        .try_acquire_or_renew()
        .await
        .unwrap());
    // The same identity (one per data dir, which one process holds at a time).
    assert!(elector(&store, &clock, "a")
        .try_acquire_or_renew()
        .await
        .unwrap());
}

/// A clock that reads tokio's (paused) clock, so leases and sleeps agree.
struct TokioClock {
    base: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        start()
            .saturating_add(self.base.elapsed())
            .unwrap_or_else(|_| start())
    }
}

/// A store that stops answering (every call fails) while `cut` is set: a server cut off
/// from the store.
struct Partitioned {
    inner: MemoryStore,
    cut: AtomicBool,
}

impl Partitioned {
    fn fail<T: Send + 'static>(&self) -> Option<BoxFuture<'_, Result<T, StoreError>>> {
        self.cut.load(Ordering::SeqCst).then(|| {
            Box::pin(async { Err(StoreError::Backend("partitioned".into())) })
                as BoxFuture<'_, Result<T, StoreError>>
        })
    }
}

impl Store for Partitioned {
    fn get(&self, key: &Key) -> BoxFuture<'_, Result<Option<Stored>, StoreError>> {
        self.fail().unwrap_or_else(|| self.inner.get(key))
    }
    fn list(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> BoxFuture<'_, Result<(Vec<Stored>, i64), StoreError>> {
        self.fail()
            .unwrap_or_else(|| self.inner.list(kind, namespace))
    }
    fn create(
        &self,
        key: Key,
        uid: String,
        json: Vec<u8>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.fail()
            .unwrap_or_else(|| self.inner.create(key, uid, json))
    }
    fn update(
        &self,
        key: Key,
        json: Vec<u8>,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.fail()
            .unwrap_or_else(|| self.inner.update(key, json, expected))
    }
    fn delete(
        &self,
        key: &Key,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.fail()
            .unwrap_or_else(|| self.inner.delete(key, expected))
    }
    fn watch(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<EventStream, StoreError>> {
        self.inner.watch(kind, from)
    }
    fn current_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.inner.current_revision()
    }
    fn compacted_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.inner.compacted_revision()
    }
    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.compact(revision)
    }
}

/// Fails the test the moment both lead; returns how many times leadership changed hands.
async fn watch_both(
    mut a: watch::Receiver<bool>,
    mut b: watch::Receiver<bool>,
    until: Duration,
) -> Vec<&'static str> {
    let mut leaders = Vec::new();
    let deadline = tokio::time::sleep(until);
    tokio::pin!(deadline);
    loop {
        let (la, lb) = (*a.borrow_and_update(), *b.borrow_and_update());
        assert!(!(la && lb), "both lead at once");
        let now = if la {
            "a"
        } else if lb {
            "b"
        } else {
            ""
        };
        if !now.is_empty() && leaders.last() != Some(&now) {
            leaders.push(now);
        }
        tokio::select! {
            _ = a.changed() => {}
            _ = b.changed() => {}
            _ = &mut deadline => return leaders,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_cut_off_leader_stops_before_the_other_takes_over() {
    let shared = Arc::new(Partitioned {
        inner: MemoryStore::new(),
        cut: AtomicBool::new(false),
    });
    // a reaches the store through the partition; b directly (the same data).
    let a_store: Arc<dyn Store> = shared.clone();
    let b_store: Arc<dyn Store> = Arc::new(ThroughInner(shared.clone()));
    let clock: Arc<dyn Clock> = Arc::new(TokioClock {
        base: tokio::time::Instant::now(),
    });
    let (a_tx, a_rx) = watch::channel(false);
    let (b_tx, b_rx) = watch::channel(false);
    let a = tokio::spawn(keep_electing(
        Arc::new(elector(&a_store, &clock, "a")),
        a_tx,
    ));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let b = tokio::spawn(keep_electing(
        Arc::new(elector(&b_store, &clock, "b")),
        b_tx,
    ));
    let observer = tokio::spawn(watch_both(
        a_rx.clone(),
        b_rx.clone(),
        Duration::from_secs(120),
    ));
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(*a_rx.borrow() && !*b_rx.borrow(), "a leads, b waits");
    shared.cut.store(true, Ordering::SeqCst);
    let cut_at = tokio::time::Instant::now();
    // b takes over within the lease duration of a's last renewal, which came before the
    // cut (b follows the renewals as they commit, and tries when the lease runs out)...
    while !*b_rx.borrow() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = cut_at.elapsed();
    assert!(took <= LEASE + Duration::from_millis(300), "{took:?}");
    // ...a had stopped by then (the observer would have failed), and stays stopped.
    assert!(!*a_rx.borrow());
    shared.cut.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        !*a_rx.borrow() && *b_rx.borrow(),
        "b keeps the lease after a is back"
    );
    assert_eq!(observer.await.unwrap(), vec!["a", "b"]);
    a.abort();
    b.abort();
}

#[tokio::test(start_paused = true)]
async fn singletons_run_only_while_leading() {
    let (tx, rx) = watch::channel(false);
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = running.clone();
    let supervisor = tokio::spawn(run_while_leading(rx, move || {
        let started = started.clone();
        vec![tokio::spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            let _guard = Decrement(started);
            std::future::pending::<()>().await;
        })]
    }));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(running.load(Ordering::SeqCst), 0);
    tx.send_replace(true);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(running.load(Ordering::SeqCst), 1);
    tx.send_replace(false);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        running.load(Ordering::SeqCst),
        0,
        "stopped when leadership ended"
    );
    tx.send_replace(true);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(running.load(Ordering::SeqCst), 1, "started again");
    drop(tx);
    supervisor.await.unwrap();
    assert_eq!(running.load(Ordering::SeqCst), 0);
}

struct Decrement(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The partitioned store's data, never cut off.
struct ThroughInner(Arc<Partitioned>);

impl Store for ThroughInner {
    fn get(&self, key: &Key) -> BoxFuture<'_, Result<Option<Stored>, StoreError>> {
        self.0.inner.get(key)
    }
    fn list(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> BoxFuture<'_, Result<(Vec<Stored>, i64), StoreError>> {
        self.0.inner.list(kind, namespace)
    }
    fn create(
        &self,
        key: Key,
        uid: String,
        json: Vec<u8>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.0.inner.create(key, uid, json)
    }
    fn update(
        &self,
        key: Key,
        json: Vec<u8>,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.0.inner.update(key, json, expected)
    }
    fn delete(
        &self,
        key: &Key,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        self.0.inner.delete(key, expected)
    }
    fn watch(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<EventStream, StoreError>> {
        self.0.inner.watch(kind, from)
    }
    fn current_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.0.inner.current_revision()
    }
    fn compacted_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.0.inner.compacted_revision()
    }
    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.0.inner.compact(revision)
    }
}

#[tokio::test]
async fn live_servers_are_the_renewed_identity_leases_sorted() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let manual = ManualClock::new(start());
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let keeper = |id: &str, address: &str| {
        IdentityKeeper::new(
            store.clone(),
            clock.clone(),
            id,
            address.parse::<SocketAddr>().unwrap(),
            LEASE,
        )
    };
    let (b, a) = (keeper("b", "10.0.0.2:6443"), keeper("a", "10.0.0.1:6443"));
    b.renew().await.unwrap();
    a.renew().await.unwrap();
    let addresses = |live: Vec<LiveServer>| {
        live.into_iter()
            .map(|s| s.address.to_string())
            .collect::<Vec<_>>()
    };
    let live = live_servers(store.as_ref(), clock.now()).await.unwrap();
    assert_eq!(addresses(live), ["10.0.0.1:6443", "10.0.0.2:6443"]);
    // b stops renewing: gone after the lease's duration.
    manual.advance(Duration::from_secs(10));
    a.renew().await.unwrap();
    manual.advance(Duration::from_secs(5));
    let live = live_servers(store.as_ref(), clock.now()).await.unwrap();
    assert_eq!(addresses(live), ["10.0.0.1:6443"]);
    // a stops cleanly: gone at once.
    a.remove().await.unwrap();
    assert!(live_servers(store.as_ref(), clock.now())
        .await
        .unwrap()
        .is_empty());
}
