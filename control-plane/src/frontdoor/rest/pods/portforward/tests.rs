//! Port-forward's wires against a stand-in pod (an echo that honours half-close), driven
//! the way kubectl and the kube crate drive them.

use std::sync::Arc;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode};
use skiff_proto::v1::port_forward_input::Input;
use skiff_proto::v1::PortForwardInput;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::{timeout, Duration};
use tokio_stream::wrappers::ReceiverStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::super::super::spdy::{Decoder, Encoder, Frame, FLAG_FIN};
use super::{negotiate, serve, Wire};
use crate::core::Error;
use crate::frontdoor::relay::{FromPod, FromPodStream, PortOpener, ToPod};

const WAIT: Duration = Duration::from_secs(10);
/// The stand-in refuses this port, as a pod where nothing listens.
const CLOSED_PORT: u16 = 9;

/// Echoes what it gets; the caller's half-close ends its data; dropping the caller ends
/// the connection. Counts the connections still open.
#[derive(Clone, Default)]
struct EchoPod {
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl PortOpener for EchoPod {
    async fn connect(&self, port: u16) -> Result<(ToPod, FromPodStream), Error> {
        let (in_tx, mut in_rx) = mpsc::channel::<PortForwardInput>(16);
        let (ev_tx, ev_rx) = mpsc::channel::<FromPod>(16);
        let open = self.open.clone();
        open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            if port == CLOSED_PORT {
                let _ = ev_tx
                    .send(FromPod::Error(format!(
                        "error forwarding port {port} to pod x, uid : connection refused"
                    )))
                    .await;
            } else {
                while let Some(message) = in_rx.recv().await {
                    let event = match message.input {
                        Some(Input::Data(bytes)) => FromPod::Data(bytes),
                        Some(Input::CloseWrite(_)) => FromPod::Closed,
                        _ => continue,
                    };
                    let _ = ev_tx.send(event).await;
                }
            }
            open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        });
        Ok((
            ToPod::new(in_tx),
            FromPodStream::new(ReceiverStream::new(ev_rx).boxed()),
        ))
    }
}

impl EchoPod {
    fn open(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn wait_all_closed(&self) {
        timeout(WAIT, async {
            while self.open() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("every connection on the node is closed");
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

#[test]
fn the_wire_is_negotiated_as_kubectl_and_the_kube_crate_ask() {
    let key = ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    // kubectl 1.33's first try.
    let accepted = negotiate(
        &headers(&[
            ("upgrade", "websocket"),
            key,
            ("sec-websocket-protocol", "SPDY/3.1+portforward.k8s.io"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(accepted.wire, Wire::SpdyOverWebSocket);
    // RFC 6455's own example key and answer.
    assert_eq!(
        accepted.headers["sec-websocket-accept"],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert_eq!(
        accepted.headers["sec-websocket-protocol"],
        "SPDY/3.1+portforward.k8s.io"
    );
    // kubectl's fallback.
    let accepted = negotiate(
        &headers(&[
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "portforward.k8s.io"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(accepted.wire, Wire::Spdy);
    assert_eq!(accepted.headers["upgrade"], "SPDY/3.1");
    assert_eq!(
        accepted.headers["x-stream-protocol-version"],
        "portforward.k8s.io"
    );
    // The kube crate.
    let accepted = negotiate(
        &headers(&[
            ("upgrade", "websocket"),
            key,
            ("sec-websocket-protocol", "v4.channel.k8s.io"),
        ]),
        &["80,1234"],
    )
    .unwrap();
    assert_eq!(
        accepted.wire,
        Wire::Channels {
            ports: vec![80, 1234]
        }
    );
    assert_eq!(
        accepted.headers["sec-websocket-protocol"],
        "v4.channel.k8s.io"
    );

    // Refusals.
    let no_upgrade = negotiate(&HeaderMap::new(), &[]).unwrap_err();
    assert_eq!(no_upgrade.code, StatusCode::BAD_REQUEST);
    let wrong_protocol = negotiate(
        &headers(&[
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "v4.channel.k8s.io"),
        ]),
        &[],
    )
    .unwrap_err();
    assert_eq!(wrong_protocol.code, StatusCode::FORBIDDEN);
    assert!(wrong_protocol
        .message
        .contains("unable to negotiate protocol"));
    let ws = |ports: &[&str]| {
        negotiate(
            &headers(&[
                ("upgrade", "websocket"),
                key,
                ("sec-websocket-protocol", "v4.channel.k8s.io"),
            ]),
            ports,
        )
        .unwrap_err()
        .message
    };
    assert_eq!(ws(&[]), "query parameter \"port\" is required");
    assert!(ws(&["http"]).contains("unable to parse \"http\" as a port"));
    assert!(ws(&["80", "0"]).contains("must be > 0"));
}

/// How the test client's SPDY bytes travel: raw, or in WebSocket binary messages.
enum Transport {
    Raw(ReadHalf<DuplexStream>, WriteHalf<DuplexStream>),
    WebSocket(Box<WebSocketStream<DuplexStream>>),
}

/// A SPDY client over an in-memory connection, speaking as kubectl does.
struct SpdyClient {
    transport: Transport,
    encoder: Encoder,
    decoder: Decoder,
    buf: BytesMut,
}

impl SpdyClient {
    async fn start(pod: EchoPod, tunnelled: bool) -> SpdyClient {
        let (client, server) = tokio::io::duplex(256 * 1024);
        let wire = if tunnelled {
            Wire::SpdyOverWebSocket
        } else {
            Wire::Spdy
        };
        tokio::spawn(serve(server, wire, Arc::new(pod)));
        let transport = if tunnelled {
            let ws = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
            Transport::WebSocket(Box::new(ws))
        } else {
            let (read, write) = tokio::io::split(client);
            Transport::Raw(read, write)
        };
        SpdyClient {
            transport,
            encoder: Encoder::default(),
            decoder: Decoder::default(),
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, frame: Frame) {
        let mut bytes = Vec::new();
        self.encoder.encode(&frame, &mut bytes);
        match &mut self.transport {
            Transport::Raw(_, write) => write.write_all(&bytes).await.unwrap(),
            Transport::WebSocket(ws) => ws.send(Message::Binary(bytes.into())).await.unwrap(),
        }
    }

    async fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(frame);
            }
            let chunk = match &mut self.transport {
                Transport::Raw(read, _) => {
                    let mut chunk = vec![0; 4096];
                    let n = timeout(WAIT, read.read(&mut chunk))
                        .await
                        .expect("server stalls")
                        .unwrap();
                    chunk.truncate(n);
                    chunk
                }
                Transport::WebSocket(ws) => {
                    match timeout(WAIT, ws.next()).await.expect("server stalls") {
                        Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                        _ => Vec::new(),
                    }
                }
            };
            if chunk.is_empty() {
                return None;
            }
            self.buf.extend_from_slice(&chunk);
        }
    }

    async fn data(&mut self, stream_id: u32, data: &[u8], fin: bool) {
        let flags = if fin { FLAG_FIN } else { 0 };
        let data = data.to_vec();
        self.send(Frame::Data {
            stream_id,
            flags,
            data,
        })
        .await;
    }

    /// Opens the error and data streams of connection `request` to `port`.
    async fn open(&mut self, request: u32, port: u16) -> (u32, u32) {
        let (error, data) = (request * 4 + 1, request * 4 + 3);
        for (id, kind) in [(error, "error"), (data, "data")] {
            self.send(Frame::SynStream {
                stream_id: id,
                associated_to: 0,
                priority: 0,
                flags: 0,
                headers: vec![
                    ("streamtype".into(), kind.into()),
                    ("port".into(), port.to_string()),
                    ("requestid".into(), request.to_string()),
                ],
            })
            .await;
        }
        // kubectl closes its side of the error stream at once.
        self.data(error, b"", true).await;
        (error, data)
    }
}

/// Reads frames until `done` says so; returns what came per stream.
async fn collect(client: &mut SpdyClient, mut done: impl FnMut(&[Frame]) -> bool) -> Vec<Frame> {
    let mut frames = Vec::new();
    while !done(&frames) {
        let frame = client.recv().await.expect("connection still open");
        if matches!(frame, Frame::Ping { .. }) {
            continue;
        }
        frames.push(frame);
    }
    frames
}

fn data_on(frames: &[Frame], id: u32) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    let mut fin = false;
    for frame in frames {
        if let Frame::Data {
            stream_id,
            flags,
            data,
        } = frame
        {
            if *stream_id == id {
                bytes.extend_from_slice(data);
                fin |= flags & FLAG_FIN != 0;
            }
        }
    }
    (bytes, fin)
}

async fn spdy_round_trip(tunnelled: bool) {
    let pod = EchoPod::default();
    let mut client = SpdyClient::start(pod.clone(), tunnelled).await;
    let (error, data) = client.open(0, 80).await;
    client.data(data, b"GET / HTTP/1.0\r\n\r\n", false).await;
    client.data(data, b"", true).await;
    let frames = collect(&mut client, |f| data_on(f, data).1).await;
    let replies: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::SynReply { stream_id, .. } => Some(*stream_id),
            _ => None,
        })
        .collect();
    assert_eq!(replies, vec![error, data], "both streams answered");
    assert_eq!(
        data_on(&frames, data),
        (b"GET / HTTP/1.0\r\n\r\n".to_vec(), true)
    );
    // As kubectl does once the pod's side is done: reset the data stream, then read the
    // error stream to its end.
    client
        .send(Frame::RstStream {
            stream_id: data,
            status: 5,
        })
        .await;
    let frames = collect(&mut client, |f| data_on(f, error).1).await;
    assert_eq!(data_on(&frames, error), (Vec::new(), true), "no error");
    pod.wait_all_closed().await;

    // A second connection on the same SPDY connection; then the client vanishes.
    let (_, data) = client.open(1, 80).await;
    client.data(data, b"again", false).await;
    let frames = collect(&mut client, |f| !data_on(f, data).0.is_empty()).await;
    assert_eq!(data_on(&frames, data).0, b"again");
    assert_eq!(pod.open(), 1);
    drop(client);
    pod.wait_all_closed().await;
}

#[tokio::test]
async fn spdy_carries_a_connection_with_half_close_and_reset() {
    spdy_round_trip(false).await;
}

#[tokio::test]
async fn spdy_tunnelled_in_websocket_messages_does_the_same() {
    spdy_round_trip(true).await;
}

#[tokio::test]
async fn spdy_reports_a_refused_port_on_the_error_stream() {
    let mut client = SpdyClient::start(EchoPod::default(), false).await;
    let (error, data) = client.open(0, CLOSED_PORT).await;
    let frames = collect(&mut client, |f| data_on(f, error).1 && data_on(f, data).1).await;
    let (text, _) = data_on(&frames, error);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "error forwarding port 9 to pod x, uid : connection refused"
    );
}

#[tokio::test]
async fn spdy_resets_streams_it_cannot_place() {
    let mut client = SpdyClient::start(EchoPod::default(), false).await;
    client
        .send(Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: vec![("streamtype".into(), "data".into())],
        })
        .await;
    let frames = collect(&mut client, |f| f.len() == 2).await;
    assert!(
        matches!(frames[1], Frame::RstStream { stream_id: 1, .. }),
        "{frames:?}"
    );
}

#[tokio::test]
async fn websocket_channels_carry_each_port_as_the_kube_crate_expects() {
    let pod = EchoPod::default();
    let (client, server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(serve(
        server,
        Wire::Channels {
            ports: vec![80, CLOSED_PORT],
        },
        Arc::new(pod.clone()),
    ));
    let mut ws = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    let mut first = Vec::new();
    for _ in 0..5 {
        match timeout(WAIT, ws.next()).await.expect("server stalls") {
            Some(Ok(Message::Binary(bytes))) => first.push(bytes.to_vec()),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Each channel announces its port first (80 = 0x0050, 9 = 0x0009), little-endian;
    // then port 9's error channel says why.
    for expected in [[0u8, 0x50, 0], [1, 0x50, 0], [2, 9, 0], [3, 9, 0]] {
        assert!(first.contains(&expected.to_vec()), "{first:?}");
    }
    let error = first.iter().find(|m| m.len() > 3).unwrap();
    assert_eq!(error[0], 3);
    assert!(String::from_utf8_lossy(&error[1..]).contains("connection refused"));

    ws.send(Message::Binary(b"\x00ping".to_vec().into()))
        .await
        .unwrap();
    let echoed = match timeout(WAIT, ws.next()).await.unwrap() {
        Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(echoed, b"\x00ping");
    // The client's close ends the connections on the node.
    ws.close(None).await.unwrap();
    pod.wait_all_closed().await;
}
