//! The supervisor with a fake prober (which servers answer is the test's to say), and
//! failover with resumption through real tonic servers on loopback: a watch broken by
//! its server's death resumes on the next one from its resourceVersion.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Endpoints;
use skiff_proto::v1::node_server::{Node, NodeServer};
use skiff_proto::v1::*;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use super::*;

/// Answers for the servers in `alive`; records every probe.
#[derive(Clone, Default)]
struct FakeProber {
    alive: Arc<Mutex<BTreeSet<String>>>,
    probed: Arc<Mutex<Vec<String>>>,
}

impl FakeProber {
    fn set_alive(&self, urls: &[&str]) {
        *self.alive.lock().unwrap() = urls.iter().map(|u| u.to_string()).collect();
    }
}

impl Prober for FakeProber {
    fn probe(&self, url: &str) -> impl Future<Output = Result<(), String>> + Send {
        self.probed.lock().unwrap().push(url.to_string());
        let up = self.alive.lock().unwrap().contains(url);
        async move {
            up.then_some(())
                .ok_or_else(|| "connection refused".to_string())
        }
    }
}

const FAST: Timing = Timing {
    interval: Duration::from_millis(1),
    retry: Duration::from_millis(1),
    failures: 2,
};

fn supervisor(
    urls: &[&str],
    prober: &FakeProber,
) -> (Supervisor<FakeProber>, watch::Sender<Vec<String>>) {
    let (tx, rx) = watch::channel(urls.iter().map(|u| u.to_string()).collect());
    (Supervisor::new(prober.clone(), rx, FAST), tx)
}

#[tokio::test]
async fn stays_on_a_server_that_answers() {
    let prober = FakeProber::default();
    prober.set_alive(&["a", "b"]);
    let (mut sup, _list) = supervisor(&["a", "b"], &prober);
    for _ in 0..3 {
        assert_eq!(sup.step().await, FAST.interval);
    }
    assert_eq!(*sup.current().borrow(), "a");
    assert_eq!(*prober.probed.lock().unwrap(), ["a", "a", "a"]);
}

#[tokio::test]
async fn one_failed_check_is_not_enough_to_move() {
    let prober = FakeProber::default();
    prober.set_alive(&["b"]);
    let (mut sup, _list) = supervisor(&["a", "b"], &prober);
    assert_eq!(sup.step().await, FAST.retry);
    assert_eq!(*sup.current().borrow(), "a");
    prober.set_alive(&["a", "b"]);
    sup.step().await;
    // The count starts over after a success.
    prober.set_alive(&["b"]);
    sup.step().await;
    assert_eq!(*sup.current().borrow(), "a");
}

#[tokio::test]
async fn a_dead_server_is_replaced_by_the_next_live_one_in_order() {
    let prober = FakeProber::default();
    prober.set_alive(&["a", "b", "c"]);
    let (mut sup, _list) = supervisor(&["a", "b", "c"], &prober);
    let current = sup.current();
    sup.step().await;
    prober.set_alive(&["c"]);
    sup.step().await;
    sup.step().await;
    assert_eq!(*current.borrow(), "c", "b does not answer, c does");
    // From the last one the search wraps around to the first.
    prober.set_alive(&["a"]);
    sup.step().await;
    sup.step().await;
    assert_eq!(*current.borrow(), "a");
}

#[tokio::test]
async fn with_no_server_answering_it_stays_and_moves_when_one_returns() {
    let prober = FakeProber::default();
    let (mut sup, _list) = supervisor(&["a", "b"], &prober);
    for _ in 0..4 {
        assert_eq!(sup.step().await, FAST.retry);
    }
    assert_eq!(*sup.current().borrow(), "a");
    prober.set_alive(&["b"]);
    sup.step().await;
    assert_eq!(*sup.current().borrow(), "b");
}

#[tokio::test]
async fn learned_servers_are_candidates_and_saved_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::load(dir.path(), "https://10.9.0.2:6443");
    let prober = FakeProber::default();
    let mut sup = Supervisor::new(prober.clone(), servers.subscribe(), FAST);
    servers.learn(vec![
        "https://10.9.0.2:6443".into(),
        "https://10.9.0.3:6443".into(),
    ]);
    prober.set_alive(&["https://10.9.0.3:6443"]);
    sup.step().await;
    sup.step().await;
    assert_eq!(*sup.current().borrow(), "https://10.9.0.3:6443");
    // A restarted agent whose --server is down starts with the saved list.
    let again = Servers::load(dir.path(), "https://10.9.0.2:6443");
    assert_eq!(
        *again.subscribe().borrow(),
        ["https://10.9.0.2:6443", "https://10.9.0.3:6443"]
    );
}

// ---- failover with resumption, over real gRPC on loopback ----

type EventStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Status>> + Send>>;

/// A Node server whose WatchEndpoints records the resume point asked for and, without
/// one, lists one Endpoints at revision `rv`; otherwise it sends one change after it.
struct FakeNode {
    rv: u64,
    asked: Arc<Mutex<Vec<String>>>,
}

fn endpoints_event(kind: &str, name: &str, rv: u64) -> WatchEvent {
    let eps = Endpoints::default();
    WatchEvent {
        r#type: kind.into(),
        object: Some(Object {
            kind: "Endpoints".into(),
            namespace: "default".into(),
            name: name.into(),
            resource_version: rv.to_string(),
            json: serde_json::to_vec(&eps).unwrap(),
            ..Default::default()
        }),
        resource_version: rv.to_string(),
    }
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in this fake"))
}

#[tonic::async_trait]
impl Node for FakeNode {
    async fn register(
        &self,
        _: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        unimplemented()
    }
    async fn heartbeat(
        &self,
        _: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        Ok(Response::new(HeartbeatResponse { lease_seconds: 40 }))
    }
    type WatchPodsStream = EventStream;
    async fn watch_pods(
        &self,
        _: Request<WatchPodsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        unimplemented()
    }
    async fn update_pod_status(
        &self,
        _: Request<UpdatePodStatusRequest>,
    ) -> Result<Response<UpdatePodStatusResponse>, Status> {
        unimplemented()
    }
    type WatchServicesStream = EventStream;
    async fn watch_services(
        &self,
        _: Request<WatchServicesRequest>,
    ) -> Result<Response<EventStream>, Status> {
        unimplemented()
    }
    type WatchEndpointsStream = EventStream;
    async fn watch_endpoints(
        &self,
        req: Request<WatchEndpointsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let resume = req.into_inner().resource_version;
        self.asked.lock().unwrap().push(resume.clone());
        let events = if resume.is_empty() {
            vec![
                endpoints_event("ADDED", "first", self.rv),
                WatchEvent {
                    r#type: "BOOKMARK".into(),
                    object: None,
                    resource_version: self.rv.to_string(),
                },
            ]
        } else {
            let after: u64 = resume.parse().unwrap();
            vec![endpoints_event("ADDED", "after-failover", after + 1)]
        };
        let stream =
            futures::stream::iter(events.into_iter().map(Ok)).chain(futures::stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }
    async fn sync_mirror_pods(
        &self,
        _: Request<SyncMirrorPodsRequest>,
    ) -> Result<Response<SyncMirrorPodsResponse>, Status> {
        unimplemented()
    }
    type WatchNodesStream = EventStream;
    async fn watch_nodes(
        &self,
        _: Request<WatchNodesRequest>,
    ) -> Result<Response<EventStream>, Status> {
        unimplemented()
    }
    async fn update_node_status(
        &self,
        _: Request<UpdateNodeStatusRequest>,
    ) -> Result<Response<UpdateNodeStatusResponse>, Status> {
        unimplemented()
    }
    async fn record_node_event(
        &self,
        _: Request<RecordNodeEventRequest>,
    ) -> Result<Response<RecordNodeEventResponse>, Status> {
        unimplemented()
    }
    async fn record_pod_events(
        &self,
        _: Request<RecordPodEventsRequest>,
    ) -> Result<Response<RecordPodEventsResponse>, Status> {
        unimplemented()
    }
    async fn get_pod_object(
        &self,
        _: Request<GetPodObjectRequest>,
    ) -> Result<Response<Object>, Status> {
        unimplemented()
    }
    async fn list_released_volumes(
        &self,
        _: Request<ListReleasedVolumesRequest>,
    ) -> Result<Response<ListReleasedVolumesResponse>, Status> {
        unimplemented()
    }
    async fn volume_deleted(
        &self,
        _: Request<VolumeDeletedRequest>,
    ) -> Result<Response<VolumeDeletedResponse>, Status> {
        unimplemented()
    }
    async fn request_service_account_token(
        &self,
        _: Request<ServiceAccountTokenRequest>,
    ) -> Result<Response<ServiceAccountTokenResponse>, Status> {
        unimplemented()
    }
}

/// A server on a runtime of its own, so that killing it drops every connection at once,
/// as the death of its process would.
struct Running {
    url: String,
    asked: Arc<Mutex<Vec<String>>>,
    kill: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(rv: u64) -> Running {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let node = FakeNode {
            rv,
            asked: asked.clone(),
        };
        let (kill, killed) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let serve = tonic::transport::Server::builder()
                    .add_service(NodeServer::new(node))
                    .serve_with_incoming(incoming);
                tokio::select! {
                    _ = serve => {},
                    _ = killed => {},
                }
            });
            drop(rt);
        });
        Running {
            url: format!("http://{addr}"),
            asked,
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn a_watch_broken_by_its_servers_death_resumes_on_the_next_server() {
    let mut first = Running::start(5);
    let second = Running::start(5);
    let prober = FakeProber::default();
    prober.set_alive(&[&first.url, &second.url]);
    let (list_tx, list_rx) = watch::channel(vec![first.url.clone(), second.url.clone()]);
    let sup = Supervisor::new(prober.clone(), list_rx, FAST);
    let (channel, changes) = Channel::balance_channel(4);
    tokio::spawn(route(
        sup.current(),
        |url| Ok(Endpoint::from_shared(url.to_string())?),
        changes,
    ));
    let current = sup.current();
    tokio::spawn(sup.run());
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(resumable::run::<Endpoints>(
        channel,
        "n1".into(),
        Watched::Endpoints,
        tx,
    ));

    match next_delta(&mut rx).await {
        Delta::Resync(all) => assert!(all.contains_key(&("default".into(), "first".into()))),
        other => panic!("expected the list, got {other:?}"),
    }
    assert_eq!(*first.asked.lock().unwrap(), [""]);

    first.kill();
    prober.set_alive(&[&second.url]);
    // The watch reconnects (announced), on the second server, from revision 5: a change
    // after it, not a new list.
    assert_eq!(next_delta(&mut rx).await, Delta::Reconnected);
    match next_delta(&mut rx).await {
        Delta::Upsert(key, _) => assert_eq!(key, ("default".into(), "after-failover".into())),
        other => panic!("expected the change after the resume point, got {other:?}"),
    }
    assert_eq!(*current.borrow(), second.url);
    assert_eq!(*second.asked.lock().unwrap(), ["5"]);
    drop(list_tx);
}

async fn next_delta(rx: &mut mpsc::Receiver<Delta<Endpoints>>) -> Delta<Endpoints> {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a delta in time")
        .expect("the watch is running")
}
