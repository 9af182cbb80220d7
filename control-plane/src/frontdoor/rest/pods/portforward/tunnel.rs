//! KEP-4006's tunnel: SPDY frames inside WebSocket binary messages (client-go's
//! `TunnelingConnection`), as a [`ByteSource`]/[`ByteSink`] pair for `rest/spdy`.

use std::io;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::super::super::spdy::{ByteSink, ByteSource};

/// The client's binary messages, as one byte stream.
pub struct WsSource<S>(pub SplitStream<WebSocketStream<S>>);

/// Each batch of frames as one binary message.
pub struct WsSink<S>(pub SplitSink<WebSocketStream<S>, Message>);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteSource for WsSource<S> {
    async fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match self.0.next().await {
                Some(Ok(Message::Binary(bytes))) => return Ok(Some(bytes.to_vec())),
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                // Pings are answered by the WebSocket layer; text has no place here.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteSink for WsSink<S> {
    async fn send_chunk(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        self.0
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(io::Error::other)
    }

    async fn finish(&mut self) {
        let _ = self.0.close().await;
    }
}

/// Splits a server-side WebSocket into the SPDY connection's two halves.
pub fn halves<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    ws: WebSocketStream<S>,
) -> (WsSource<S>, WsSink<S>) {
    let (sink, stream) = ws.split();
    (WsSource(stream), WsSink(sink))
}
