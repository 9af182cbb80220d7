//! `GET /skiff/v1/join` ([`crate::pki::join::PATH`]): the cluster's shared CA, keys and
//! tokens for a server joining this one (`--join`), only to a request bearing this
//! cluster's server token (401 otherwise; there is no open route). The joiner has
//! already pinned the CA from the handshake against the token's hash. A tower layer in
//! front of tonic, as `binaries/`.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{header, Method, Request, Response, StatusCode};
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::{info, warn};

use crate::pki::join::{read_bundle, PATH};
use crate::pki::Pki;

/// Puts the join route in front of the gRPC services.
#[derive(Clone)]
pub struct JoinLayer {
    pki: Arc<Pki>,
}

impl JoinLayer {
    pub fn new(pki: Arc<Pki>) -> Self {
        JoinLayer { pki }
    }
}

impl<S> Layer<S> for JoinLayer {
    type Service = Join<S>;

    fn layer(&self, inner: S) -> Join<S> {
        Join {
            inner,
            pki: self.pki.clone(),
        }
    }
}

/// The service [`JoinLayer`] makes: the join path here, everything else to `inner`.
#[derive(Clone)]
pub struct Join<S> {
    inner: S,
    pki: Arc<Pki>,
}

/// The status and JSON (or text) body for a request to the join path.
pub fn answer(pki: &Pki, method: &Method, headers: &http::HeaderMap) -> (StatusCode, Vec<u8>) {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !pki.verify_server_token(bearer.trim()) {
        warn!("join: request without the server token refused");
        return (
            StatusCode::UNAUTHORIZED,
            b"the server token is needed: Authorization: Bearer <the server's server-token>\n"
                .to_vec(),
        );
    }
    if method != Method::GET {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            b"only GET is served here\n".to_vec(),
        );
    }
    match read_bundle(pki.data_dir()) {
        Ok(bundle) => {
            info!("join: the cluster's CA, keys and tokens handed to a joining server");
            let json = serde_json::to_vec(&bundle).expect("a bundle serializes");
            (StatusCode::OK, json)
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{e}\n").into_bytes(),
        ),
    }
}

impl<S> Service<Request<Body>> for Join<S>
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
        if req.uri().path() != PATH {
            return Box::pin(self.inner.call(req));
        }
        let (status, body) = answer(&self.pki, req.method(), req.headers());
        let content_type = match status {
            StatusCode::OK => "application/json",
            _ => "text/plain; charset=utf-8",
        };
        let response = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::new(http_body_util::Full::new(bytes::Bytes::from(
                body,
            ))))
            .unwrap_or_else(|_| Response::new(Body::empty()));
        Box::pin(async move { Ok(response) })
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn only_the_server_token_gets_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &[], "https://127.0.0.1:6443").unwrap();
        std::fs::write(dir.path().join("secrets-encryption.key"), "ab".repeat(32)).unwrap();
        let token = std::fs::read_to_string(dir.path().join("server-token")).unwrap();
        let refused = [
            HeaderMap::new(),
            bearer(&pki.node_token()),
            bearer(&token.trim().replace("::server:", "::server:x")),
        ];
        for headers in refused {
            let (status, _) = answer(&pki, &Method::GET, &headers);
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, _) = answer(&pki, &Method::POST, &bearer(token.trim()));
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let (status, body) = answer(&pki, &Method::GET, &bearer(token.trim()));
        assert_eq!(status, StatusCode::OK);
        let bundle: crate::pki::join::Bundle = serde_json::from_slice(&body).unwrap();
        assert_eq!(bundle.files["pki/ca.crt"], pki.ca_pem());
        assert_eq!(bundle.files.len(), crate::pki::join::SHARED.len());
    }
}
