//! Request bodies: read whole, at most kube-apiserver's 3 MiB, within a time limit (a
//! client that opens a request and never finishes it is cut off, and nobody else
//! waits for it), then decoded by their content type.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use super::status::RestError;

/// kube-apiserver's limit on a request body.
pub const MAX_BODY: usize = 3 * 1024 * 1024;
/// How long a body may take to arrive (kube-apiserver's request timeout is 60 s).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

fn too_large() -> RestError {
    RestError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!("Request entity too large: limit is {MAX_BODY}"),
    )
}

/// The whole body, or 413 past [`MAX_BODY`], or 408 when it does not arrive in time.
pub async fn read(headers: &HeaderMap, body: Incoming) -> Result<Bytes, RestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(RestError::bad_request(format!(
            "reading the request body: {e}"
        ))),
        Err(_) => Err(RestError::new(
            StatusCode::REQUEST_TIMEOUT,
            "Timeout",
            "the request body did not arrive in time",
        )),
    }
}

/// The media type of a request body, without parameters ("application/json").
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// An object body as JSON: `application/json` (the default) or `application/yaml`.
pub fn decode_object(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, RestError> {
    let media = content_type(headers);
    let value: Value = match media.as_str() {
        "" | "application/json" | "*/*" => serde_json::from_slice(bytes).map_err(|e| {
            RestError::bad_request(format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({e})"))
        })?,
        "application/yaml" => serde_yaml::from_slice(bytes).map_err(|e| {
            RestError::bad_request(format!("the body of the request was not valid YAML: {e}"))
        })?,
        other => {
            return Err(RestError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {other:?})"
            )))
        }
    };
    if !value.is_object() {
        return Err(RestError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(value)
}
