//! `pods/{name}/portforward` (docs/architecture.md, The wire): `kubectl port-forward` and
//! client libraries. The request is upgraded to one of three wires (`negotiate.rs`); each
//! forwarded connection becomes one `Agent.PortForward` stream to the pod's node
//! (`frontdoor/relay/portforward.rs`), which dials the port inside the pod.
//!
//! | what | file |
//! |------|------|
//! | the request: checks, the 101, the upgraded connection's task | `handle.rs` |
//! | which wire, the 101 answer | `negotiate.rs` |
//! | `portforward.k8s.io` over SPDY (plain or tunnelled) | `spdy.rs`, `tunnel.rs` |
//! | `v4.channel.k8s.io` over WebSocket | `channels.rs` |

mod channels;
mod handle;
mod negotiate;
mod spdy;
#[cfg(test)]
mod tests;
mod tunnel;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

pub use handle::handle;
pub use negotiate::{negotiate, Refused, Wire};

use super::super::spdy::{RawSink, RawSource};
use crate::frontdoor::relay::PortOpener;

/// Serves the upgraded connection `io` on `wire` until the client goes.
pub async fn serve<IO, O>(io: IO, wire: Wire, opener: Arc<O>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    O: PortOpener,
{
    match wire {
        Wire::Spdy => {
            let (read, write) = tokio::io::split(io);
            spdy::serve(RawSource(read), RawSink(write), opener).await;
        }
        Wire::SpdyOverWebSocket => {
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            let (source, sink) = tunnel::halves(ws);
            spdy::serve(source, sink, opener).await;
        }
        Wire::Channels { ports } => {
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            channels::serve(ws, ports, opener).await;
        }
    }
}
