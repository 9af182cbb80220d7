//! The etcd backend: several control-plane servers share one etcd (3.4 or newer), and
//! every server sees every other's writes through etcd's watches.
//!
//! The trait's model is etcd's, so the mapping is direct:
//! - an object's revision (its `resourceVersion`) is its etcd `mod_revision`, and the
//!   store's revision is etcd's (an empty etcd is at revision 1, not 0);
//! - create is a transaction on `create_revision == 0`, so it is atomic across servers (the
//!   ClusterIP, NodePort and pod CIDR claims rely on that); update and delete with an
//!   expected revision are transactions on `mod_revision`;
//! - watches are etcd watches with `prev_kv` (a deletion carries the object's last state);
//!   `compact` is etcd's compaction, and a revision before it answers `Compacted`;
//! - `list_at` is a range read at a revision.
//!
//! Key layout and value envelope: `keys`. Watches, lag and progress: `watch`. Test and
//! benchmark etcds: `process`.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, GetResponse, KvClient,
    Txn, TxnOp, TxnOpResponse, TxnResponse,
};
use futures::future::BoxFuture;
use tracing::{debug, info, warn};

use super::{EventStream, Key, ProgressStream, Store, StoreError, Stored, DEFAULT_WATCH_BUFFER};

pub mod keys;
pub mod process;
mod watch;

#[cfg(test)]
mod tests;

/// The endpoints of `--store etcd://HOST:PORT[,HOST:PORT...]`.
pub fn parse_endpoints(store: &str) -> Result<Vec<String>, StoreError> {
    let bad = |why: &str| {
        StoreError::Backend(format!(
            "--store {store:?}: {why}; expected etcd://HOST:PORT[,HOST:PORT...]"
        ))
    };
    let list = store
        .strip_prefix("etcd://")
        .ok_or_else(|| bad("not an etcd:// URL"))?;
    let endpoints: Vec<String> = list
        .split(',')
        .map(|e| e.trim().trim_end_matches('/').to_string())
        .collect();
    for endpoint in &endpoints {
        let (host, port) = endpoint
            .rsplit_once(':')
            .ok_or_else(|| bad(&format!("{endpoint:?} has no port")))?;
        if host.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
            return Err(bad(&format!("{endpoint:?} is not HOST:PORT")));
        }
    }
    Ok(endpoints)
}

/// Objects per range request when listing (etcd caps a response's size).
const PAGE: i64 = 500;

/// How long one etcd request may take before the caller gets `Backend` (a lost quorum
/// answers 503 after this rather than hanging the API).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// TLS to etcd: the CA that signed etcd's serving certificate, and the client certificate
/// etcd asks for with `--client-cert-auth` (PEM).
#[derive(Clone, Debug)]
pub struct EtcdTls {
    pub ca: Vec<u8>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl EtcdTls {
    /// From `--etcd-cafile`, `--etcd-certfile` and `--etcd-keyfile`.
    pub fn from_files(
        ca: &Path,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, StoreError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| StoreError::Backend(format!("{}: {e}", p.display())))
        };
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
            (None, None) => None,
            _ => {
                return Err(StoreError::Backend(
                    "--etcd-certfile and --etcd-keyfile go together".into(),
                ))
            }
        };
        Ok(EtcdTls {
            ca: read(ca)?,
            identity,
        })
    }
}

/// etcd-backed [`Store`]. Cheap to clone: clones share the client (one HTTP/2 connection
/// per endpoint, failing over between them).
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    watch_buffer: usize,
    /// A lower bound of etcd's compaction point (it only grows), so finding it is quick.
    compacted: Arc<AtomicI64>,
}

fn backend(e: etcd_client::Error) -> StoreError {
    StoreError::Backend(format!("etcd: {e}"))
}

fn is_compacted(e: &etcd_client::Error) -> bool {
    e.to_string()
        .contains("required revision has been compacted")
}

/// Whether a failed request may be sent again: it never reached a member (connection
/// refused), or a member refused it unapplied (no leader); reads also after a broken
/// connection.
fn retryable(e: &etcd_client::Error, idempotent: bool) -> bool {
    let text = e.to_string();
    text.contains("tcp connect error")
        || text.contains("etcdserver: no leader")
        || (idempotent && (text.contains("connection closed") || text.contains("broken pipe")))
}

fn is_future(e: &etcd_client::Error) -> bool {
    e.to_string()
        .contains("required revision is a future revision")
}

/// `http://`/`https://` URLs from `HOST:PORT` or URL endpoints.
fn urls(endpoints: &[String], tls: bool) -> Vec<String> {
    let scheme = if tls { "https://" } else { "http://" };
    endpoints
        .iter()
        .map(|e| {
            let hostport = e.split_once("://").map_or(e.as_str(), |(_, rest)| rest);
            format!("{scheme}{}", hostport.trim_end_matches('/'))
        })
        .collect()
}

impl EtcdStore {
    /// Connects to the etcd cluster at `endpoints` (`HOST:PORT` or URLs; the scheme follows
    /// `tls`) and checks that it answers. One attempt: see [`connect_retrying`](Self::connect_retrying).
    pub async fn connect(
        endpoints: &[String],
        tls: Option<EtcdTls>,
    ) -> Result<EtcdStore, StoreError> {
        let unreachable = |e: etcd_client::Error| {
            StoreError::Backend(format!("etcd at {}: {e}", endpoints.join(",")))
        };
        let mut options = ConnectOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(Duration::from_secs(3))
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            .with_require_leader(true);
        if let Some(tls) = &tls {
            let mut config = etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(&tls.ca));
            if let Some((cert, key)) = &tls.identity {
                config = config.identity(etcd_client::Identity::from_pem(cert, key));
            }
            options = options.with_tls(config);
        }
        let client = Client::connect(urls(endpoints, tls.is_some()), Some(options))
            .await
            .map_err(unreachable)?;
        let store = EtcdStore {
            client,
            watch_buffer: DEFAULT_WATCH_BUFFER,
            compacted: Arc::new(AtomicI64::new(0)),
        };
        store
            .kv()
            .get(keys::all(), Some(GetOptions::new().with_count_only()))
            .await
            .map_err(unreachable)?;
        Ok(store)
    }

    /// [`connect`](Self::connect), retried every few seconds (each failure logged) until
    /// etcd answers or `give_up_after` passes: a server started before its etcd waits.
    pub async fn connect_retrying(
        endpoints: &[String],
        tls: Option<EtcdTls>,
        give_up_after: Duration,
    ) -> Result<EtcdStore, StoreError> {
        let start = std::time::Instant::now();
        let mut attempt = 1;
        loop {
            match Self::connect(endpoints, tls.clone()).await {
                Ok(store) => {
                    info!(endpoints = %endpoints.join(","), attempt, "connected to etcd");
                    return Ok(store);
                }
                Err(e) if start.elapsed() < give_up_after => {
                    warn!(attempt, error = %e, "etcd unreachable; retrying in 2s");
                }
                Err(e) => return Err(e),
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Live events buffered per watcher before it re-reads etcd's history instead (tests
    /// use a tiny one to exercise that path).
    pub fn with_watch_buffer(mut self, events: usize) -> Self {
        self.watch_buffer = events.max(1);
        self
    }

    /// How many skiff objects etcd holds (of every kind).
    pub async fn count_all(&self) -> Result<usize, StoreError> {
        let options = GetOptions::new().with_prefix().with_count_only();
        let response = self
            .read(keys::all(), Some(options))
            .await
            .map_err(backend)?;
        Ok(usize::try_from(response.count()).unwrap_or(0))
    }

    fn kv(&self) -> KvClient {
        self.client.kv_client()
    }

    /// A range read, tried again (for up to [`REQUEST_TIMEOUT`]) when it failed without an
    /// answer from etcd: the client's balancer may still pick a member that just died,
    /// and a member answers "no leader" during an election.
    async fn read(
        &self,
        key: Vec<u8>,
        options: Option<GetOptions>,
    ) -> Result<GetResponse, etcd_client::Error> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            match self.kv().get(key.clone(), options.clone()).await {
                Err(e) if retryable(&e, true) && Instant::now() < deadline => {
                    debug!(error = %e, "etcd read failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    /// A transaction, tried again only when it certainly did not reach etcd (a write that
    /// may have committed is not repeated: the caller gets `Backend`, as a 503).
    async fn write(&self, txn: Txn) -> Result<TxnResponse, etcd_client::Error> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            match self.kv().txn(txn.clone()).await {
                Err(e) if retryable(&e, false) && Instant::now() < deadline => {
                    debug!(error = %e, "etcd write not sent; trying again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    async fn get_one(&self, key: &Key) -> Result<Option<Stored>, StoreError> {
        let response = self.read(keys::object(key), None).await.map_err(backend)?;
        response
            .kvs()
            .first()
            .map(|kv| keys::stored(kv.key(), kv.value(), kv.mod_revision()))
            .transpose()
    }

    /// Every object under `prefix` at `revision` (0 = now), in pages, and the revision read.
    async fn range(
        &self,
        prefix: Vec<u8>,
        revision: i64,
    ) -> Result<(Vec<Stored>, i64), etcd_client::Error> {
        let mut end = prefix.clone();
        *end.last_mut().expect("prefixes end with /") += 1;
        let mut from = prefix;
        let mut at = revision;
        let mut objects = vec![];
        loop {
            let options = GetOptions::new()
                .with_range(end.clone())
                .with_limit(PAGE)
                .with_revision(at);
            let response = self.read(from.clone(), Some(options)).await?;
            if at == 0 {
                at = response.header().map_or(0, |h| h.revision());
            }
            for kv in response.kvs() {
                objects.push(
                    keys::stored(kv.key(), kv.value(), kv.mod_revision())
                        .map_err(|e| etcd_client::Error::InvalidArgs(e.to_string()))?,
                );
            }
            match response.kvs().last() {
                Some(last) if response.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => break,
            }
        }
        // etcd sorts by bytes; `Key` sorts by (kind, namespace, name), which differs when a
        // namespace is a prefix of another ("a" < "a-b" but "a-b/" < "a/").
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((objects, at))
    }

    async fn revision(&self) -> Result<i64, StoreError> {
        let response = self
            .read(keys::all(), Some(GetOptions::new().with_count_only()))
            .await
            .map_err(backend)?;
        Ok(response.header().map_or(0, |h| h.revision()))
    }

    /// Whether history from `revision` is still there (false once it is compacted).
    async fn readable_at(&self, revision: i64) -> Result<bool, StoreError> {
        let options = GetOptions::new().with_count_only().with_revision(revision);
        match self.read(keys::all(), Some(options)).await {
            Ok(_) => Ok(true),
            // A watch may start from a revision not written yet: it waits for it.
            Err(e) if is_future(&e) => Ok(true),
            Err(e) if is_compacted(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    /// etcd's compaction point. etcd does not report it except in a failed watch, so find
    /// the oldest readable revision (a binary search from the last one known, a handful of
    /// count-only reads).
    async fn compaction_point(&self) -> Result<i64, StoreError> {
        let mut lo = self.compacted.load(Ordering::Relaxed).max(1);
        let mut hi = self.revision().await?;
        lo = lo.min(hi);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.readable_at(mid).await? {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        self.compacted.fetch_max(lo, Ordering::Relaxed);
        Ok(if lo <= 1 { 0 } else { lo })
    }

    async fn compacted_error(&self, requested: i64) -> StoreError {
        match self.compaction_point().await {
            Ok(oldest) => StoreError::Compacted { requested, oldest },
            Err(e) => e,
        }
    }

    async fn put_txn(
        &self,
        key: &Key,
        compare: Compare,
        op: TxnOp,
    ) -> Result<(bool, i64, Vec<TxnOpResponse>), StoreError> {
        let txn = Txn::new()
            .when([compare])
            .and_then([op])
            .or_else([TxnOp::get(keys::object(key), None)]);
        let response = self.write(txn).await.map_err(backend)?;
        let revision = response.header().map_or(0, |h| h.revision());
        Ok((response.succeeded(), revision, response.op_responses()))
    }

    async fn do_create(&self, key: Key, uid: String, json: Vec<u8>) -> Result<Stored, StoreError> {
        let etcd_key = keys::object(&key);
        let compare = Compare::create_revision(etcd_key.clone(), CompareOp::Equal, 0);
        let put = TxnOp::put(etcd_key, keys::envelope(&uid, &json), None);
        match self.put_txn(&key, compare, put).await? {
            (true, revision, _) => Ok(Stored {
                key,
                uid,
                revision,
                json,
            }),
            (false, ..) => Err(StoreError::AlreadyExists(key)),
        }
    }

    async fn do_update(
        &self,
        key: Key,
        json: Vec<u8>,
        expected: Option<i64>,
    ) -> Result<Stored, StoreError> {
        // The uid is kept, so read it first; the write then compares against that read,
        // and an unconditional update that loses a race simply reads again.
        loop {
            let current = self
                .get_one(&key)
                .await?
                .ok_or_else(|| StoreError::NotFound(key.clone()))?;
            if let Some(expected) = expected.filter(|e| *e != current.revision) {
                return Err(StoreError::Conflict {
                    key,
                    expected,
                    actual: current.revision,
                });
            }
            let etcd_key = keys::object(&key);
            let compare =
                Compare::mod_revision(etcd_key.clone(), CompareOp::Equal, current.revision);
            let put = TxnOp::put(etcd_key, keys::envelope(&current.uid, &json), None);
            let (done, revision, responses) = self.put_txn(&key, compare, put).await?;
            if done {
                return Ok(Stored {
                    key,
                    uid: current.uid,
                    revision,
                    json,
                });
            }
            match (found(&responses), expected) {
                (None, _) => return Err(StoreError::NotFound(key)),
                (Some(actual), Some(expected)) => {
                    return Err(StoreError::Conflict {
                        key,
                        expected,
                        actual,
                    })
                }
                (Some(_), None) => continue,
            }
        }
    }

    async fn do_delete(&self, key: Key, expected: Option<i64>) -> Result<Stored, StoreError> {
        let etcd_key = keys::object(&key);
        let compare = match expected {
            Some(revision) => Compare::mod_revision(etcd_key.clone(), CompareOp::Equal, revision),
            None => Compare::create_revision(etcd_key.clone(), CompareOp::Greater, 0),
        };
        let delete = TxnOp::delete(etcd_key, Some(DeleteOptions::new().with_prev_key()));
        let (done, revision, responses) = self.put_txn(&key, compare, delete).await?;
        if !done {
            return match (found(&responses), expected) {
                (Some(actual), Some(expected)) => Err(StoreError::Conflict {
                    key,
                    expected,
                    actual,
                }),
                _ => Err(StoreError::NotFound(key)),
            };
        }
        let prev = responses.iter().find_map(|r| match r {
            TxnOpResponse::Delete(d) => d.prev_kvs().first().cloned(),
            _ => None,
        });
        let prev = prev.ok_or_else(|| {
            StoreError::Backend(format!("etcd deleted {key} without its previous value"))
        })?;
        let mut last = keys::stored(prev.key(), prev.value(), revision)?;
        last.revision = revision;
        Ok(last)
    }
}

/// The `mod_revision` a failed transaction's `get` found, if the key exists.
fn found(responses: &[TxnOpResponse]) -> Option<i64> {
    responses.iter().find_map(|r| match r {
        TxnOpResponse::Get(get) => get.kvs().first().map(|kv| kv.mod_revision()),
        _ => None,
    })
}

impl Store for EtcdStore {
    fn get(&self, key: &Key) -> BoxFuture<'_, Result<Option<Stored>, StoreError>> {
        let key = key.clone();
        Box::pin(async move { self.get_one(&key).await })
    }

    fn list(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> BoxFuture<'_, Result<(Vec<Stored>, i64), StoreError>> {
        let prefix = keys::range(kind, namespace);
        Box::pin(async move { self.range(prefix, 0).await.map_err(backend) })
    }

    fn create(
        &self,
        key: Key,
        uid: String,
        json: Vec<u8>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        Box::pin(self.do_create(key, uid, json))
    }

    fn update(
        &self,
        key: Key,
        json: Vec<u8>,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        Box::pin(self.do_update(key, json, expected))
    }

    fn delete(
        &self,
        key: &Key,
        expected: Option<i64>,
    ) -> BoxFuture<'_, Result<Stored, StoreError>> {
        Box::pin(self.do_delete(key.clone(), expected))
    }

    fn watch(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<EventStream, StoreError>> {
        let kind = kind.map(str::to_string);
        Box::pin(async move { watch::events(self, kind, from).await })
    }

    fn watch_progress(
        &self,
        kind: Option<&str>,
        from: i64,
    ) -> BoxFuture<'_, Result<ProgressStream, StoreError>> {
        let kind = kind.map(str::to_string);
        Box::pin(async move { watch::with_progress(self, kind, from).await })
    }

    fn list_at(
        &self,
        kind: &str,
        namespace: Option<&str>,
        revision: i64,
    ) -> BoxFuture<'_, Result<Vec<Stored>, StoreError>> {
        let prefix = keys::range(kind, namespace);
        Box::pin(async move {
            // Revision 1 is an empty etcd; 0 would mean "now" to etcd.
            let at = revision.max(1);
            match self.range(prefix.clone(), at).await {
                Ok((objects, _)) => Ok(objects),
                Err(e) if is_future(&e) => Ok(self.range(prefix, 0).await.map_err(backend)?.0),
                Err(e) if is_compacted(&e) => Err(self.compacted_error(revision).await),
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(self.revision())
    }

    fn compacted_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(self.compaction_point())
    }

    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let target = revision.min(self.revision().await?);
            if target <= self.compaction_point().await? {
                return Ok(());
            }
            match self.kv().compact(target, None).await {
                Ok(_) => {}
                // Another server compacted further meanwhile: the same outcome.
                Err(e) if is_compacted(&e) => {}
                Err(e) => return Err(backend(e)),
            }
            self.compacted.fetch_max(target, Ordering::Relaxed);
            Ok(())
        })
    }
}
