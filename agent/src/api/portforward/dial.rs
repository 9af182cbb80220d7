//! Connecting to a port on a pod's localhost, from inside the pod's network namespace
//! (as the kubelet does through the runtime): a socket talks in the namespace it was
//! created in, so it is created on a throwaway thread that `setns()`s first and then
//! ends; no pooled runtime thread ever changes namespace (see `network/netlink.rs`).

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use nix::sched::CloneFlags;
use tokio::net::TcpStream;

/// How long a connect inside the pod may take (a port nothing answers on, behind a
/// dropping firewall rule, would otherwise hang the caller).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens TCP connections in pods' network namespaces; the real one enters the
/// namespace, the test fake connects on the host.
pub trait PodDialer: Send + Sync {
    /// A connection to `localhost:port` inside the namespace at `netns`, or the text a
    /// user reads (containerd's: `failed to connect to localhost:8080 inside namespace ...`).
    fn dial<'a>(
        &'a self,
        netns: &'a Path,
        sandbox: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<TcpStream, String>>;
}

/// Dials from inside the pod's namespace.
pub struct NetnsDialer;

impl PodDialer for NetnsDialer {
    fn dial<'a>(
        &'a self,
        netns: &'a Path,
        sandbox: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<TcpStream, String>> {
        let netns = netns.to_path_buf();
        let sandbox = sandbox.to_string();
        Box::pin(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("skiff-portfwd".into())
                .spawn(move || {
                    let _ = tx.send(connect_in(&netns, &sandbox, port));
                })
                .map_err(|e| format!("spawn port-forward thread: {e}"))?;
            let stream = rx
                .await
                .map_err(|_| "port-forward thread died".to_string())??;
            stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(stream))
                .map_err(|e| format!("port-forward socket: {e}"))
        })
    }
}

/// On the calling thread, which it moves into `netns` for good.
fn connect_in(netns: &PathBuf, sandbox: &str, port: u16) -> Result<StdTcpStream, String> {
    let in_namespace = |what: String| {
        format!(
            "failed to execute portforward in network namespace {:?}: {what}",
            netns.display().to_string()
        )
    };
    let file = File::open(netns).map_err(|e| in_namespace(format!("open: {e}")))?;
    nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
        .map_err(|e| in_namespace(format!("setns: {e}")))?;
    connect_localhost(port).map_err(|(v4, v6)| {
        in_namespace(format!(
            "failed to connect to localhost:{port} inside namespace {sandbox:?}, IPv4: {v4} IPv6 {v6} "
        ))
    })
}

/// `localhost:port` over IPv4, then IPv6, as containerd does; both errors when neither
/// answers, in Go's words (`dial tcp4 127.0.0.1:8080: connect: connection refused`).
pub fn connect_localhost(port: u16) -> Result<StdTcpStream, (String, String)> {
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let e4 = match StdTcpStream::connect_timeout(&v4, CONNECT_TIMEOUT) {
        Ok(stream) => return Ok(stream),
        Err(e) => format!("dial tcp4 {v4}: connect: {}", go_error(&e)),
    };
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    match StdTcpStream::connect_timeout(&v6, CONNECT_TIMEOUT) {
        Ok(stream) => Ok(stream),
        Err(e) => Err((e4, format!("dial tcp6 {v6}: connect: {}", go_error(&e)))),
    }
}

/// An OS error as Go prints it: the lower-case strerror text, no "(os error N)".
fn go_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => nix::errno::Errno::from_raw(errno)
            .desc()
            .to_ascii_lowercase(),
        None => e.to_string(),
    }
}
