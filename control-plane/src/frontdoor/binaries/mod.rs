//! The binaries the server was installed with, served over the API's TLS port to holders
//! of the node token, so a node (a Pi Zero, a fresh VM) needs no Rust toolchain to join.
//!
//! `GET /skiff/v1/binaries/<arch>/<name>` answers the bytes of `<data-dir>/bin/<arch>/<name>`
//! (one of [`NAMES`], or one of the demo images [`DEMO_IMAGES`])
//! and `GET .../<name>.sha256` their sha256 in `sha256sum`'s format. The request must carry
//! `Authorization: Bearer <node token>` (401 otherwise); there is no open route. The CA
//! is not served here either: a client takes it from the TLS handshake (the server sends
//! `[serving certificate, CA]`) and checks it against the token's hash.
//!
//! It sits in front of tonic as a tower layer (docs/architecture.md, Control plane
//! layers): every other path goes to the gRPC API.

mod answer;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response};
use tonic::body::Body;
use tower::{Layer, Service};

pub use answer::{answer, Reply};

/// The path prefix of the binaries.
pub const PREFIX: &str = "/skiff/v1/binaries/";

/// The binaries a server keeps and serves.
pub const NAMES: [&str; 3] = ["skiff-agent", "skiff", "skiff-control-plane"];

/// The demo app's images (OCI archives the quickstart builds from busybox-static), served
/// beside the binaries so that a joined node runs the demo's pods too: they are in no
/// registry, and a node imports what lands in its `--images` folder.
pub const DEMO_IMAGES: [&str; 3] = [
    "skiff-demo-httpd.tar",
    "skiff-demo-busybox.tar",
    "skiff-demo-hostname.tar",
];

/// `<data-dir>/bin`: one folder per architecture (`uname -m`: x86_64, aarch64).
pub fn bin_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("bin")
}

/// What the layer needs to answer: where the binaries are and the token to expect.
struct Shelf {
    dir: PathBuf,
    token: String,
}

/// Puts the binaries route in front of the gRPC services.
#[derive(Clone)]
pub struct BinariesLayer {
    shelf: Arc<Shelf>,
}

impl BinariesLayer {
    /// Serves `<data_dir>/bin` to requests bearing `token` (the node token's text form).
    pub fn new(data_dir: &Path, token: String) -> BinariesLayer {
        BinariesLayer {
            shelf: Arc::new(Shelf {
                dir: bin_dir(data_dir),
                token,
            }),
        }
    }
}

impl<S> Layer<S> for BinariesLayer {
    type Service = Binaries<S>;

    fn layer(&self, inner: S) -> Binaries<S> {
        Binaries {
            inner,
            shelf: self.shelf.clone(),
        }
    }
}

/// The service [`BinariesLayer`] makes: binaries paths here, everything else to `inner`.
#[derive(Clone)]
pub struct Binaries<S> {
    inner: S,
    shelf: Arc<Shelf>,
}

impl<S> Service<Request<Body>> for Binaries<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if !req.uri().path().starts_with(PREFIX) {
            return Box::pin(self.inner.call(req));
        }
        let shelf = self.shelf.clone();
        let (head, _body) = req.into_parts();
        Box::pin(async move {
            let reply = answer(&shelf.dir, &shelf.token, &head).await;
            Ok(reply.into_response())
        })
    }
}

impl Reply {
    fn into_response(self) -> Response<Body> {
        let (status, content_type, bytes) = self.parts();
        let body = http_body_util::Full::new(bytes::Bytes::from(bytes));
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(Body::new(body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}
