//! Port-forward over WebSocket channels (`v4.channel.k8s.io`, binary), as the kubelet
//! serves it: for the i-th port of `?ports=`, channel 2i carries data and 2i+1 errors;
//! each channel first says its port (2 bytes, little-endian). Every port is dialed at
//! once. The protocol has no half-close: when the pod ends a connection it is closed
//! whole, and once every port's connection is over the socket is closed; the client's
//! close ends them all.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use crate::frontdoor::relay::{FromPod, PortOpener};

const CHANNEL: usize = 16;

fn message(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(bytes.into())
}

/// Serves `ports` on one WebSocket until every connection is over or the client goes.
pub async fn serve<S, O>(ws: WebSocketStream<S>, ports: Vec<u16>, opener: Arc<O>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    O: PortOpener,
{
    let (mut sink, mut stream) = ws.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(CHANNEL);
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });

    let mut to_ports = Vec::with_capacity(ports.len());
    for (index, port) in ports.iter().copied().enumerate() {
        let (data, error) = channels(index);
        for channel in [data, error] {
            let _ = out.send(message(channel, &port.to_le_bytes())).await;
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        to_ports.push(tx);
        tokio::spawn(forward(opener.clone(), port, index, rx, out.clone()));
    }
    drop(out);

    while let Some(Ok(message)) = stream.next().await {
        let bytes = match message {
            Message::Binary(bytes) => bytes,
            Message::Close(_) => break,
            _ => continue,
        };
        let Some((&channel, data)) = bytes.split_first() else {
            continue;
        };
        // Data channels only; what a client writes on an error channel is ignored.
        let to = to_ports
            .get(usize::from(channel / 2))
            .filter(|_| channel % 2 == 0);
        if let (Some(to), false) = (to, data.is_empty()) {
            let _ = to.send(data.to_vec()).await;
        }
    }
    debug!("port-forward websocket client gone");
    drop(to_ports);
    let _ = writer.await;
}

/// The data and error channels of the port at `index`.
fn channels(index: usize) -> (u8, u8) {
    let data = (index * 2) as u8;
    (data, data + 1)
}

/// One port's connection.
async fn forward<O: PortOpener>(
    opener: Arc<O>,
    port: u16,
    index: usize,
    mut inbound: mpsc::Receiver<Vec<u8>>,
    out: mpsc::Sender<Message>,
) {
    let (data, error) = channels(index);
    let (to_pod, mut from_pod) = match opener.connect(port).await {
        Ok(connection) => connection,
        Err(e) => {
            let _ = out.send(message(error, e.to_string().as_bytes())).await;
            return;
        }
    };
    let mut to_pod = Some(to_pod);
    loop {
        tokio::select! {
            bytes = inbound.recv(), if to_pod.is_some() => match bytes {
                Some(bytes) => {
                    to_pod.as_ref().expect("guarded by the branch condition").data(bytes).await;
                }
                None => to_pod = None,
            },
            event = from_pod.next() => match event {
                Some(FromPod::Data(bytes)) => { let _ = out.send(message(data, &bytes)).await; }
                // No half-close on this wire: the connection ends whole.
                Some(FromPod::Closed) => to_pod = None,
                Some(FromPod::Error(text)) => { let _ = out.send(message(error, text.as_bytes())).await; }
                None => break,
            },
        }
    }
    debug!(port, "port-forward channel connection finished");
}
