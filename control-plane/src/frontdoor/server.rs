//! The control plane's one TLS port (docs/architecture.md, Front doors): gRPC for the
//! agents and the skiff CLI, the Kubernetes REST API for kubectl and client libraries,
//! and the node binaries, told apart per request.
//!
//! The listener does the TLS handshake itself, offering `h2` and `http/1.1` (kubectl's
//! WebSocket upgrades are HTTP/1.1), and hands each request the client's verified
//! certificate chain as tonic's [`TlsConnectInfo`], so both front doors read the caller
//! the same way. A request whose `content-type` is `application/grpc...` goes to tonic
//! (behind the binaries layer); every other one to [`super::rest`].
//!
//! Slow or silent clients cannot hold the port: the handshake and an HTTP/1 request's
//! headers must arrive within their timeouts, idle HTTP/2 connections are pinged, and the
//! REST front door bounds how long a body may take (`rest/body.rs`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tonic::body::Body;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};
use tower::{Service, ServiceExt};
use tracing::{debug, info, warn};

use super::rest::Rest;

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP/1 client gets to send a request's headers (kube-apiserver's
/// `ReadHeaderTimeout` is 32 s).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);
/// Pings on idle HTTP/2 connections, so a watch whose client vanished is noticed.
const KEEPALIVE: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// A pause after a failed `accept` (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The caller's verified certificate chain, as tonic's own TLS would have recorded it.
pub type ConnectInfo = TlsConnectInfo<TcpConnectInfo>;

/// Serves `listener` until `shutdown` resolves, then lets open connections finish for
/// up to `grace`. `grpc` answers gRPC (and the binaries), `rest` everything else.
pub async fn serve<G>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    grpc: G,
    rest: Arc<Rest>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    G: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    G::Future: Send + 'static,
{
    let acceptor = TlsAcceptor::from(tls);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, grpc, rest) = (
            acceptor.clone(),
            builder.clone(),
            grpc.clone(),
            rest.clone(),
        );
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let info: ConnectInfo = tls.connect_info();
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                let (grpc, rest) = (grpc.clone(), rest.clone());
                async move {
                    if to_tonic(&req) {
                        grpc.oneshot(req.map(Body::new)).await
                    } else {
                        Ok(rest.serve(req).await)
                    }
                }
            });
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    info!("no longer accepting connections");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        info!("open streams cut after the shutdown grace period");
    }
}

/// gRPC requests say so in their content type (`application/grpc`, `+proto`, ...); the
/// node binaries and the join bundle are served by layers in front of tonic.
fn to_tonic<B>(req: &Request<B>) -> bool {
    req.uri().path().starts_with(super::binaries::PREFIX)
        || req.uri().path() == crate::pki::join::PATH
        || req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"))
}
