//! The sockets: UDP and TCP on every listen address, a task per query (forwarding waits on
//! upstreams), bounded so a flood cannot grow the agent without limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::forward::{read_framed, write_framed, Forwarder};
use super::handler::{Handler, Transport};
use super::zone::Zone;
use super::{DnsConfig, DnsError, DnsRecords};

/// Queries in flight over UDP; more are dropped (the client retries).
const MAX_UDP_IN_FLIGHT: usize = 1024;
/// Open TCP connections; more wait in the listen backlog.
const MAX_TCP_CONNECTIONS: usize = 128;
/// A TCP client silent this long is disconnected.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Tries to find a port free for both UDP and TCP when the listen port is 0.
const PORT_TRIES: usize = 16;

/// A running cluster DNS server. Dropping it (or [`DnsServer::shutdown`]) stops it.
pub struct DnsServer {
    addrs: Vec<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds UDP and TCP on every `config.listen` address (port 0 picks one port free
    /// for both) and serves until dropped.
    pub async fn start(config: DnsConfig, records: DnsRecords) -> Result<DnsServer, DnsError> {
        let zone = Zone::new(&config.domain, config.ttl.as_secs().try_into().unwrap_or(5))
            .map_err(|reason| DnsError::InvalidDomain {
                domain: config.domain.clone(),
                reason,
            })?;
        if config.listen.is_empty() {
            return Err(DnsError::NoListenAddress);
        }
        let mut sockets = Vec::new();
        for addr in &config.listen {
            sockets.push(bind_pair(*addr).await?);
        }
        let addrs: Vec<SocketAddr> = sockets.iter().map(|(udp, _)| local(udp)).collect();
        // Forwarding to ourselves would loop until every query times out.
        let upstreams: Vec<SocketAddr> = config
            .upstreams
            .iter()
            .copied()
            .filter(|u| !addrs.contains(u) && !config.listen.contains(u))
            .collect();
        if upstreams.is_empty() {
            warn!("cluster dns has no upstream resolvers: names outside the cluster fail");
        }
        let handler = Arc::new(Handler {
            zone,
            records,
            forwarder: Forwarder {
                upstreams: upstreams.clone(),
                timeout: config.forward_timeout,
            },
        });
        let udp_slots = Arc::new(Semaphore::new(MAX_UDP_IN_FLIGHT));
        let tcp_slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
        let mut tasks = Vec::new();
        for (udp, tcp) in sockets {
            tasks.push(tokio::spawn(serve_udp(
                Arc::new(udp),
                handler.clone(),
                udp_slots.clone(),
            )));
            tasks.push(tokio::spawn(serve_tcp(
                tcp,
                handler.clone(),
                tcp_slots.clone(),
            )));
        }
        info!(listen = ?addrs, domain = %config.domain, upstreams = ?upstreams, "cluster dns serving");
        Ok(DnsServer { addrs, tasks })
    }

    /// The bound addresses, one per `listen` entry, UDP and TCP on the same port.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops serving and waits until the sockets are closed.
    pub async fn shutdown(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn local(udp: &UdpSocket) -> SocketAddr {
    udp.local_addr().expect("bound socket has an address")
}

async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let bind_err = |proto: &'static str, addr: SocketAddr| {
        move |source| DnsError::Bind {
            addr,
            proto,
            source,
        }
    };
    let tries = if addr.port() == 0 { PORT_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let udp = UdpSocket::bind(addr).await.map_err(bind_err("udp", addr))?;
        let bound = local(&udp);
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(bind_err("tcp", bound)(e)),
        }
    }
    Err(last.expect("at least one try"))
}

async fn serve_udp(sock: Arc<UdpSocket>, handler: Arc<Handler>, slots: Arc<Semaphore>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                // ICMP errors of earlier sends surface here on some kernels; keep serving.
                debug!(error = %e, "dns udp receive failed");
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!(peer = %peer, "dns query dropped: too many in flight");
            continue;
        };
        let query = buf[..n].to_vec();
        let (sock, handler) = (sock.clone(), handler.clone());
        tokio::spawn(async move {
            if let Some(response) = handler.handle(&query, Transport::Udp).await {
                if let Err(e) = sock.send_to(&response, peer).await {
                    debug!(peer = %peer, error = %e, "dns udp send failed");
                }
            }
            drop(permit);
        });
    }
}

async fn serve_tcp(listener: TcpListener, handler: Arc<Handler>, slots: Arc<Semaphore>) {
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(got) => got,
            Err(e) => {
                warn!(error = %e, "dns tcp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, &handler).await {
                debug!(peer = %peer, error = %e, "dns tcp connection ended");
            }
            drop(permit);
        });
    }
}

/// Queries on one connection, answered in order, until the client closes or idles.
async fn serve_connection(mut stream: TcpStream, handler: &Handler) -> std::io::Result<()> {
    loop {
        let query = match tokio::time::timeout(TCP_IDLE, read_framed(&mut stream)).await {
            Ok(Ok(Some(q))) => q,
            Ok(Ok(None)) | Err(_) => return Ok(()),
            Ok(Err(e)) => return Err(e),
        };
        if let Some(response) = handler.handle(&query, Transport::Tcp).await {
            write_framed(&mut stream, &response).await?;
        }
    }
}
