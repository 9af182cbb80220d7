//! The non-resource paths of the REST front door: `/version`, discovery, `/openapi/v3`
//! and the health checks. Any authenticated caller may read them, as kube-apiserver's
//! `system:discovery` and `system:public-info-viewer` roles allow; only GET (and HEAD)
//! is answered.

use bytes::Bytes;
use http::{header, Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;

use super::super::openapi;
use super::super::reply::Body;
use super::super::route::Query;
use super::super::status::RestError;
use super::super::Ctx;
use super::answer;
use super::health::{Endpoint, Options};

/// The answer for `req` if its path is one of these, `None` to route it as a resource.
pub async fn serve(
    ctx: &Ctx,
    req: &Request<Incoming>,
) -> Option<Result<Response<Body>, RestError>> {
    let path = req.uri().path().trim_end_matches('/');
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let is_ours = matches!(
        parts.as_slice(),
        ["version"] | ["api"] | ["apis"] | ["apis", _] | ["api", _] | ["apis", _, _]
    ) || matches!(parts.first(), Some(&"openapi"))
        || Endpoint::parse(parts[0]).is_some() && parts.len() <= 2;
    if !is_ours {
        return None;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Some(Err(RestError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            req.method()
        ))));
    }
    let accept = header_str(req, header::ACCEPT);
    let answer = match parts.as_slice() {
        ["version"] => Some(answer::version()),
        ["api"] => Some(answer::root(true, accept, &server_address(req))),
        ["apis"] => Some(answer::root(false, accept, &server_address(req))),
        ["apis", group] => answer::group(group),
        ["api", version] => answer::resources("", version),
        ["apis", group, version] => answer::resources(group, version),
        ["openapi", "v3"] => Some(openapi_root()),
        ["openapi", "v3", key @ ..] => match openapi::find(&key.join("/")) {
            Some(doc) => {
                let query = Query::parse(req.uri().query());
                match openapi::answer(doc, query.get("hash"), req.headers()) {
                    Ok(response) => Some(response),
                    Err(e) => return Some(Err(inflating(e))),
                }
            }
            None => None,
        },
        [endpoint, rest @ ..] => match Endpoint::parse(endpoint) {
            Some(endpoint) => {
                let query = Query::parse(req.uri().query());
                let options = Options {
                    verbose: query.get("verbose").is_some(),
                    exclude: query.all("exclude").map(str::to_string).collect(),
                };
                answer::health(
                    ctx.cp.store.as_ref(),
                    endpoint,
                    rest.first().copied(),
                    &options,
                )
                .await
            }
            None => None,
        },
        _ => None,
    };
    Some(match answer {
        Some(response) => Ok(response.map(|bytes| Body::new(Full::new(bytes)))),
        None => Err(RestError::not_found(
            "the server could not find the requested resource",
        )),
    })
}

fn openapi_root() -> Response<Bytes> {
    let body = serde_json::to_vec(&openapi::root()).expect("the root serializes");
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body))
        .expect("static headers are valid")
}

fn inflating(e: std::io::Error) -> RestError {
    RestError::new(
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        format!("reading the embedded OpenAPI document: {e}"),
    )
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The address the client reached: the request's authority (HTTP/2) or `Host`.
fn server_address(req: &Request<Incoming>) -> String {
    req.uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}
