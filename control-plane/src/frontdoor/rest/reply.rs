//! Building responses: JSON objects, plain text, and chunked streams (watch, logs).
//! The body type is tonic's, the one the listener (`frontdoor/server.rs`) answers with
//! for both front doors.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{Full, StreamBody};

pub use tonic::body::Body;

use super::status::RestError;

pub const JSON: &str = "application/json";

/// `value` as JSON with `code`.
pub fn json(code: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => bytes_with(code, JSON, bytes),
        Err(e) => error(&RestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("encoding the response: {e}"),
        )),
    }
}

/// Already encoded bytes with their content type.
pub fn bytes_with(code: StatusCode, content_type: &str, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Body::new(Full::new(bytes.into())));
    *response.status_mut() = code;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// Plain text (health checks, logs).
pub fn text(code: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    bytes_with(code, "text/plain; charset=utf-8", text)
}

/// A chunked body: each item is written as it comes; an error ends the stream.
pub fn stream<S, E>(content_type: &str, chunks: S) -> Response<Body>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let frames = chunks.map(|chunk| chunk.map(hyper::body::Frame::data));
    let mut response = Response::new(Body::new(StreamBody::new(frames)));
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The `Status` of a refusal.
pub fn error(e: &RestError) -> Response<Body> {
    match serde_json::to_vec(&e.to_status()) {
        Ok(bytes) => bytes_with(e.code, JSON, bytes),
        Err(_) => text(e.code, e.message.clone()),
    }
}
