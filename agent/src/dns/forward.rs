//! Names outside the cluster domain go to the node's resolvers: the client's query bytes
//! are relayed as they are (its EDNS size, flags and case kept) under a fresh random id,
//! over UDP, retried over TCP when the answer comes back truncated.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;
use tracing::debug;

/// The largest DNS message (TCP length prefix).
const MAX_MESSAGE: usize = 65535;

#[derive(Debug, Clone)]
pub(crate) struct Forwarder {
    pub upstreams: Vec<SocketAddr>,
    /// Per upstream and transport; the next upstream is tried after it.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    #[error("no upstream resolver configured")]
    NoUpstreams,
    #[error("no upstream answered: {0}")]
    Failed(String),
}

impl Forwarder {
    /// The upstream's response to `query`, with the client's id put back. `limit` is the
    /// most the client takes (its UDP size; 65535 over TCP): a full answer fetched over
    /// TCP that is larger is replaced by the truncated one, so the client retries over
    /// TCP itself.
    pub async fn forward(&self, query: &[u8], limit: usize) -> Result<Vec<u8>, ForwardError> {
        if query.len() < 12 {
            return Err(ForwardError::Failed("query shorter than a header".into()));
        }
        if self.upstreams.is_empty() {
            return Err(ForwardError::NoUpstreams);
        }
        let client_id = [query[0], query[1]];
        let mut errors = Vec::new();
        for upstream in &self.upstreams {
            let id: u16 = rand::random();
            let mut relayed = query.to_vec();
            relayed[..2].copy_from_slice(&id.to_be_bytes());
            match self.exchange(*upstream, &relayed, id, limit).await {
                Ok(mut response) => {
                    response[..2].copy_from_slice(&client_id);
                    return Ok(response);
                }
                Err(e) => {
                    debug!(upstream = %upstream, error = %e, "upstream resolver failed");
                    errors.push(format!("{upstream}: {e}"));
                }
            }
        }
        Err(ForwardError::Failed(errors.join("; ")))
    }

    async fn exchange(
        &self,
        upstream: SocketAddr,
        query: &[u8],
        id: u16,
        limit: usize,
    ) -> Result<Vec<u8>, String> {
        let udp = timeout(self.timeout, udp_exchange(upstream, query, id))
            .await
            .map_err(|_| "udp timed out".to_string())?
            .map_err(|e| format!("udp: {e}"))?;
        if !truncated(&udp) {
            return Ok(udp);
        }
        let tcp = timeout(self.timeout, tcp_exchange(upstream, query, id)).await;
        match tcp {
            Ok(Ok(full)) if full.len() <= limit => Ok(full),
            Ok(Ok(_)) => Ok(udp),
            // The truncated answer still tells the client to try TCP itself.
            Ok(Err(e)) => {
                debug!(upstream = %upstream, error = %e, "tcp fallback failed");
                Ok(udp)
            }
            Err(_) => {
                debug!(upstream = %upstream, "tcp fallback timed out");
                Ok(udp)
            }
        }
    }
}

fn truncated(msg: &[u8]) -> bool {
    msg.len() >= 3 && msg[2] & 0x02 != 0
}

/// A response to our query: our id, the QR bit set.
fn is_response_to(msg: &[u8], id: u16) -> bool {
    msg.len() >= 12 && msg[..2] == id.to_be_bytes() && msg[2] & 0x80 != 0
}

/// One query on a socket of its own (a fresh random port per query), connected, so only
/// the upstream's datagrams reach it; stray ones with another id are skipped.
async fn udp_exchange(upstream: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(upstream).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = sock.recv(&mut buf).await?;
        if is_response_to(&buf[..n], id) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(upstream: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    write_framed(&mut stream, query).await?;
    let response = read_framed(&mut stream)
        .await?
        .ok_or_else(|| std::io::Error::other("connection closed before an answer"))?;
    if !is_response_to(&response, id) {
        return Err(std::io::Error::other("answer to another query"));
    }
    Ok(response)
}

/// Writes one TCP DNS message: a two-byte length, then the message.
pub(crate) async fn write_framed<W: AsyncWriteExt + Unpin>(
    w: &mut W,
    msg: &[u8],
) -> std::io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| std::io::Error::other("message longer than 65535 bytes"))?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    w.write_all(&framed).await?;
    w.flush().await
}

/// Reads one TCP DNS message; `None` on a clean end of stream between messages.
pub(crate) async fn read_framed<R: AsyncReadExt + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    r.read_exact(&mut msg).await?;
    Ok(Some(msg))
}
