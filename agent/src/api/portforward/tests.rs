//! Agent.PortForward driven through channels, with a dialer that connects on the host
//! (the namespace step is the only part left out; the e2e tests cover it).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use skiff_proto::v1::port_forward_input::Input;
use skiff_proto::v1::port_forward_output::Output;
use skiff_proto::v1::{PortForwardInput, PortForwardOutput, PortForwardStart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{timeout, Duration};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::dial::connect_localhost;
use super::{session, PodDialer};
use crate::api::ApiError;
use crate::pods::StatusStore;

const WAIT: Duration = Duration::from_secs(10);

/// Connects to the port on the host's localhost and records where it was asked to go.
#[derive(Default)]
struct HostDialer {
    calls: Mutex<Vec<(PathBuf, String, u16)>>,
}

impl PodDialer for HostDialer {
    fn dial<'a>(
        &'a self,
        netns: &'a Path,
        sandbox: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<TcpStream, String>> {
        self.calls
            .lock()
            .unwrap()
            .push((netns.to_path_buf(), sandbox.to_string(), port));
        Box::pin(async move {
            let stream = connect_localhost(port).map_err(|(v4, v6)| {
                format!("failed to connect to localhost:{port} inside namespace {sandbox:?}, IPv4: {v4} IPv6 {v6} ")
            })?;
            stream.set_nonblocking(true).unwrap();
            Ok(TcpStream::from_std(stream).unwrap())
        })
    }
}

fn store_with_pod() -> StatusStore {
    let store = StatusStore::default();
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-1"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    store.put(pod);
    store
}

fn input(input: Input) -> Result<PortForwardInput, Status> {
    Ok(PortForwardInput { input: Some(input) })
}

fn start(pod: &str, uid: &str, port: u32) -> Result<PortForwardInput, Status> {
    input(Input::Start(PortForwardStart {
        namespace: "default".into(),
        pod: pod.into(),
        uid: uid.into(),
        port,
    }))
}

type Caller = mpsc::Sender<Result<PortForwardInput, Status>>;

async fn open(
    dialer: Arc<HostDialer>,
    first: Result<PortForwardInput, Status>,
) -> (
    Caller,
    Result<ReceiverStream<Result<PortForwardOutput, Status>>, ApiError>,
) {
    let (tx, rx) = mpsc::channel(16);
    tx.send(first).await.unwrap();
    let result = session(
        &store_with_pod(),
        Path::new("/var/lib/skiff-test"),
        dialer,
        ReceiverStream::new(rx),
    )
    .await;
    (tx, result)
}

/// Everything the agent sends until its stream ends.
async fn drain(
    mut out: ReceiverStream<Result<PortForwardOutput, Status>>,
) -> (Vec<u8>, bool, Option<String>) {
    let (mut data, mut closed, mut error) = (Vec::new(), false, None);
    while let Some(item) = timeout(WAIT, out.next())
        .await
        .expect("agent stream stalls")
    {
        match item.unwrap().output.unwrap() {
            Output::Data(bytes) => data.extend(bytes),
            Output::CloseWrite(_) => closed = true,
            Output::Error(text) => error = Some(text),
        }
    }
    (data, closed, error)
}

#[tokio::test]
async fn bytes_flow_both_ways_with_half_close() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // A server that answers only once its peer has finished sending.
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        conn.read_to_end(&mut request).await.unwrap();
        conn.write_all(b"got: ").await.unwrap();
        conn.write_all(&request).await.unwrap();
    });
    let dialer = Arc::new(HostDialer::default());
    let (tx, out) = open(dialer.clone(), start("web", "uid-1", port.into())).await;
    let out = out.unwrap();
    tx.send(input(Input::Data(b"hello ".to_vec())))
        .await
        .unwrap();
    tx.send(input(Input::Data(b"pod".to_vec()))).await.unwrap();
    tx.send(input(Input::CloseWrite(true))).await.unwrap();
    let (data, closed, error) = drain(out).await;
    assert_eq!(String::from_utf8_lossy(&data), "got: hello pod");
    assert!(closed, "the pod's end of data is passed on");
    assert_eq!(error, None);
    server.await.unwrap();
    let calls = dialer.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        vec![(
            PathBuf::from("/var/lib/skiff-test/sandboxes/uid-1/net"),
            "uid-1".to_string(),
            port
        )]
    );
}

#[tokio::test]
async fn a_refused_port_ends_with_the_kubelets_error() {
    // A port that was just free: nothing listens on it.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_tx, out) = open(
        Arc::new(HostDialer::default()),
        start("web", "", port.into()),
    )
    .await;
    let (data, _, error) = drain(out.unwrap()).await;
    assert!(data.is_empty());
    let error = error.expect("an error message");
    assert!(
        error.starts_with(&format!(
            "error forwarding port {port} to pod uid-1, uid : failed to connect to localhost:{port}"
        )),
        "{error}"
    );
    assert!(
        error.contains(&format!(
            "dial tcp4 127.0.0.1:{port}: connect: connection refused"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn a_caller_that_leaves_closes_the_pods_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, out) = open(
        Arc::new(HostDialer::default()),
        start("web", "uid-1", port.into()),
    )
    .await;
    let _out = out.unwrap();
    let (mut conn, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    tx.send(input(Input::Data(b"x".to_vec()))).await.unwrap();
    drop(tx);
    // The pod sees the byte, then the end of the connection (no half-close was asked).
    let mut seen = Vec::new();
    timeout(WAIT, conn.read_to_end(&mut seen))
        .await
        .expect("the connection is closed")
        .unwrap();
    assert_eq!(seen, b"x");
}

#[tokio::test]
async fn unknown_pods_ports_and_uids_are_refused() {
    let dialer = Arc::new(HostDialer::default());
    let (_, result) = open(dialer.clone(), start("nope", "", 80)).await;
    assert!(matches!(result, Err(ApiError::PodNotFound(_))));
    let (_, result) = open(dialer.clone(), start("web", "other-uid", 80)).await;
    assert!(matches!(result, Err(ApiError::PodNotFound(_))));
    let (_, result) = open(dialer.clone(), start("web", "", 70000)).await;
    assert!(
        matches!(result, Err(ApiError::InvalidArgument(m)) if m.contains("invalid port 70000"))
    );
    let (_, result) = open(dialer.clone(), input(Input::Data(b"x".to_vec()))).await;
    assert!(matches!(result, Err(ApiError::InvalidArgument(_))));
    assert!(
        dialer.calls.lock().unwrap().is_empty(),
        "nothing was dialed"
    );
}
