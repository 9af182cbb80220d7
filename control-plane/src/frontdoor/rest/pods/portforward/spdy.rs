//! The `portforward.k8s.io` protocol over SPDY, as the kubelet serves it: for every
//! local connection the client opens two streams carrying `streamType` (`error` or
//! `data`), `port` and `requestID`; once both are there the pod's port is dialed. Data
//! stream bytes go to the pod, the client's FIN is a half-close, the pod's end of data is
//! our FIN; a failure is written as text on the error stream; both streams are finished
//! when the connection is over, and a reset data stream (kubectl resets it once the
//! pod's side is done) or a vanished client drops the connection on the node.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::debug;

use super::super::super::spdy::{
    self, header, status, ByteSink, ByteSource, Event, FrameSender, Headers,
};
use crate::frontdoor::relay::{FromPod, PortOpener};

const CHANNEL: usize = 16;

/// What the client sends on a connection's data stream.
enum Inbound {
    Data(Vec<u8>),
    /// The client's FIN: it sends nothing more.
    Fin,
}

/// The two streams of one forwarded connection, as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<(u32, u16)>,
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Error,
    Data,
}

/// Serves port-forward on one SPDY connection until the client goes.
pub async fn serve<S: ByteSource, K: ByteSink, O: PortOpener>(source: S, sink: K, opener: Arc<O>) {
    let (out, mut events) = spdy::start(source, sink);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut data_streams: HashMap<u32, mpsc::Sender<Inbound>> = HashMap::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Open {
                stream_id, headers, ..
            } => {
                let (kind, port, request) = match describe(stream_id, &headers) {
                    Ok(stream) => stream,
                    Err(why) => {
                        debug!(stream_id, %why, "port-forward stream refused");
                        out.reset(stream_id, status::PROTOCOL_ERROR).await;
                        continue;
                    }
                };
                let pair = pairs.entry(request.clone()).or_default();
                match kind {
                    Kind::Error => pair.error = Some(stream_id),
                    Kind::Data => pair.data = Some((stream_id, port)),
                }
                if let Pair {
                    error: Some(error_id),
                    data: Some((data_id, port)),
                } = *pair
                {
                    pairs.remove(&request);
                    let (tx, rx) = mpsc::channel(CHANNEL);
                    data_streams.insert(data_id, tx);
                    tokio::spawn(forward(
                        opener.clone(),
                        port,
                        data_id,
                        error_id,
                        rx,
                        out.clone(),
                    ));
                }
            }
            Event::Data {
                stream_id,
                data,
                fin,
            } => {
                let Some(tx) = data_streams.get(&stream_id) else {
                    // The error stream's (empty) FIN, or a stream already gone.
                    continue;
                };
                let mut alive = data.is_empty() || tx.send(Inbound::Data(data)).await.is_ok();
                if fin && alive {
                    alive = tx.send(Inbound::Fin).await.is_ok();
                }
                if !alive {
                    data_streams.remove(&stream_id);
                }
            }
            Event::Reset { stream_id } => {
                data_streams.remove(&stream_id);
            }
        }
    }
    debug!("port-forward client gone");
    // Dropping the data streams' senders ends every connection on the nodes.
}

/// A stream's kind, port and request id, with the kubelet's rules (a client without
/// request ids pairs a data stream with the error stream opened just before it).
fn describe(stream_id: u32, headers: &Headers) -> Result<(Kind, u16, String), String> {
    let kind = match header(headers, "streamType") {
        Some("error") => Kind::Error,
        Some("data") => Kind::Data,
        other => return Err(format!("invalid stream type {other:?}")),
    };
    let text = header(headers, "port").ok_or("\"port\" header is required")?;
    let port: u16 = text
        .parse()
        .map_err(|_| format!("unable to parse {text:?} as a port"))?;
    if port == 0 {
        return Err(format!("port {text:?} must be > 0"));
    }
    let request = match header(headers, "requestID") {
        Some(id) if !id.is_empty() => id.to_string(),
        _ if kind == Kind::Error => stream_id.to_string(),
        _ => stream_id.saturating_sub(2).to_string(),
    };
    Ok((kind, port, request))
}

/// One forwarded connection, from dialing the pod to finishing both streams.
async fn forward<O: PortOpener>(
    opener: Arc<O>,
    port: u16,
    data_id: u32,
    error_id: u32,
    mut inbound: mpsc::Receiver<Inbound>,
    out: FrameSender,
) {
    let mut data_open = true;
    match opener.connect(port).await {
        Err(error) => {
            out.data(error_id, error.to_string().into_bytes(), false)
                .await;
        }
        Ok((to_pod, mut from_pod)) => {
            let mut to_pod = Some(to_pod);
            loop {
                tokio::select! {
                    event = inbound.recv(), if to_pod.is_some() => {
                        let to = to_pod.as_ref().expect("guarded by the branch condition");
                        match event {
                            Some(Inbound::Data(bytes)) => { to.data(bytes).await; }
                            Some(Inbound::Fin) => { to.close_write().await; }
                            // Reset, or the client is gone: drop the connection.
                            None => to_pod = None,
                        }
                    }
                    event = from_pod.next() => match event {
                        Some(FromPod::Data(bytes)) if data_open => {
                            out.data(data_id, bytes, false).await;
                        }
                        Some(FromPod::Closed) if data_open => {
                            out.data(data_id, Vec::new(), true).await;
                            data_open = false;
                        }
                        Some(FromPod::Error(text)) => {
                            out.data(error_id, text.into_bytes(), false).await;
                        }
                        Some(_) => {}
                        None => break,
                    },
                }
            }
        }
    }
    out.data(error_id, Vec::new(), true).await;
    if data_open {
        out.data(data_id, Vec::new(), true).await;
    }
    debug!(port, data_id, "port-forward connection finished");
}
