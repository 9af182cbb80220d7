//! The connection: a reader task that decodes frames and answers what SPDY itself asks
//! (SYN_REPLY to every stream the client opens, PING echoes), turning the rest into
//! [`Event`]s; and a writer task that encodes what the protocol on top sends through
//! [`FrameSender`]. The bytes come from an upgraded HTTP/1.1 connection or from
//! WebSocket binary messages (KEP-4006's tunnel), behind [`ByteSource`]/[`ByteSink`].

use std::future::Future;
use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::debug;

use super::frame::{Decoder, Encoder, Frame, FLAG_FIN};
use super::headers::Headers;

const CHANNEL: usize = 64;
const READ_BUFFER: usize = 32 * 1024;

/// Bytes as they arrive; `None` at the end of the connection.
pub trait ByteSource: Send + 'static {
    fn next_chunk(&mut self) -> impl Future<Output = io::Result<Option<Vec<u8>>>> + Send;
}

/// Bytes to send, one encoded batch of frames at a time.
pub trait ByteSink: Send + 'static {
    fn send_chunk(&mut self, bytes: Vec<u8>) -> impl Future<Output = io::Result<()>> + Send;
    /// The connection is over: say goodbye where the transport has a way to.
    fn finish(&mut self) -> impl Future<Output = ()> + Send;
}

/// The read half of a plain upgraded connection.
pub struct RawSource<R>(pub R);

impl<R: AsyncRead + Unpin + Send + 'static> ByteSource for RawSource<R> {
    async fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; READ_BUFFER];
        let n = self.0.read(&mut buf).await?;
        buf.truncate(n);
        Ok((n > 0).then_some(buf))
    }
}

/// The write half of a plain upgraded connection.
pub struct RawSink<W>(pub W);

impl<W: AsyncWrite + Unpin + Send + 'static> ByteSink for RawSink<W> {
    async fn send_chunk(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        self.0.write_all(&bytes).await?;
        self.0.flush().await
    }

    async fn finish(&mut self) {
        let _ = self.0.shutdown().await;
    }
}

/// What the client did, for the protocol on top.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A new stream (already replied to); `fin`: the client will send nothing on it.
    Open {
        stream_id: u32,
        headers: Headers,
        fin: bool,
    },
    Data {
        stream_id: u32,
        data: Vec<u8>,
        fin: bool,
    },
    /// The client reset (abandoned) the stream.
    Reset { stream_id: u32 },
}

/// Sends frames on the connection; cloned by every task that writes.
#[derive(Clone)]
pub struct FrameSender(mpsc::Sender<Frame>);

impl FrameSender {
    /// False once the connection is gone.
    pub async fn data(&self, stream_id: u32, data: Vec<u8>, fin: bool) -> bool {
        let flags = if fin { FLAG_FIN } else { 0 };
        self.send(Frame::Data {
            stream_id,
            flags,
            data,
        })
        .await
    }

    pub async fn reset(&self, stream_id: u32, status: u32) -> bool {
        self.send(Frame::RstStream { stream_id, status }).await
    }

    pub async fn send(&self, frame: Frame) -> bool {
        self.0.send(frame).await.is_ok()
    }
}

/// Starts the connection's reader and writer tasks. The events end when the client
/// goes (end of data, a broken frame, GOAWAY); the writer ends, closing the transport,
/// once every [`FrameSender`] is dropped.
pub fn start<S: ByteSource, K: ByteSink>(
    source: S,
    sink: K,
) -> (FrameSender, mpsc::Receiver<Event>) {
    let (frames_tx, frames_rx) = mpsc::channel(CHANNEL);
    let (events_tx, events_rx) = mpsc::channel(CHANNEL);
    let sender = FrameSender(frames_tx);
    tokio::spawn(write_loop(sink, frames_rx));
    tokio::spawn(read_loop(source, sender.clone(), events_tx));
    (sender, events_rx)
}

async fn write_loop<K: ByteSink>(mut sink: K, mut frames: mpsc::Receiver<Frame>) {
    let mut encoder = Encoder::default();
    while let Some(frame) = frames.recv().await {
        let mut out = Vec::new();
        encoder.encode(&frame, &mut out);
        // Whatever else is queued goes in the same write.
        while let Ok(frame) = frames.try_recv() {
            encoder.encode(&frame, &mut out);
        }
        if let Err(error) = sink.send_chunk(out).await {
            debug!(%error, "spdy write failed");
            return;
        }
    }
    sink.finish().await;
}

async fn read_loop<S: ByteSource>(mut source: S, out: FrameSender, events: mpsc::Sender<Event>) {
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    loop {
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => match source.next_chunk().await {
                Ok(Some(chunk)) => {
                    buf.extend_from_slice(&chunk);
                    continue;
                }
                Ok(None) => return,
                Err(error) => {
                    debug!(%error, "spdy read failed");
                    return;
                }
            },
            Err(error) => {
                debug!(%error, "spdy connection broken");
                out.send(Frame::GoAway {
                    last_good_stream_id: 0,
                    status: 1,
                })
                .await;
                return;
            }
        };
        let event = match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => {
                let reply = Frame::SynReply {
                    stream_id,
                    flags: 0,
                    headers: Vec::new(),
                };
                if !out.send(reply).await {
                    return;
                }
                Event::Open {
                    stream_id,
                    headers,
                    fin: flags & FLAG_FIN != 0,
                }
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => Event::Data {
                stream_id,
                data,
                fin: flags & FLAG_FIN != 0,
            },
            Frame::RstStream { stream_id, .. } => Event::Reset { stream_id },
            // Ours would be even; the client's (odd) are echoed.
            Frame::Ping { id } if id % 2 == 1 => {
                out.send(Frame::Ping { id }).await;
                continue;
            }
            Frame::GoAway { .. } => return,
            _ => continue,
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}
