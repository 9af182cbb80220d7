//! A SPDY/3.1 server connection, as much of it as Kubernetes' streaming protocols use
//! (kubectl port-forward, through client-go's spdystream): streams the client opens,
//! data both ways with half-close, resets, pings and GOAWAY. There is no flow control:
//! spdystream sends no WINDOW_UPDATE and honours none, so neither does this side.
//!
//! | what | file |
//! |------|------|
//! | frames ↔ bytes | `frame.rs` |
//! | header blocks and their zlib contexts | `headers.rs`, `dictionary.rs` |
//! | the connection: reader, writer, events for the protocol on top | `conn.rs` |

mod conn;
mod dictionary;
mod frame;
mod headers;
#[cfg(test)]
mod tests;

pub use conn::{start, ByteSink, ByteSource, Event, FrameSender, RawSink, RawSource};
pub use frame::status;
#[cfg(test)]
pub use frame::{Decoder, Encoder, Frame, FLAG_FIN};
pub use headers::{get as header, Headers};

/// Why a SPDY connection was given up.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("spdy protocol error: {0}")]
    Protocol(String),
    #[error("spdy connection: {0}")]
    Io(#[from] std::io::Error),
}
