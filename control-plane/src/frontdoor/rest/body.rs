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
pub async fn read(_headers: &HeaderMap, body: Incoming) -> Result<Bytes, RestError> {
    // A body declared too large is still read up to the limit before the 413 (not refused
    // by its Content-Length): answering before reading any of it leaves an HTTP/1.1
    // client writing into a closed socket, so it would see a broken connection instead of
    // the Status.
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

/// A posted question's body (a review, a TokenRequest) as JSON, its `apiVersion` and
/// `kind` filled in when the client left them out.
pub async fn read_kind(
    req: http::Request<Incoming>,
    api_version: &str,
    kind: &str,
) -> Result<Value, RestError> {
    let (parts, incoming) = req.into_parts();
    let bytes = read(&parts.headers, incoming).await?;
    let mut value = decode_object(&parts.headers, &bytes)?;
    for (field, wanted) in [("apiVersion", api_version), ("kind", kind)] {
        if value
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
        {
            value[field] = Value::from(wanted);
        }
    }
    Ok(value)
}

/// An object body as JSON: `application/json` (the default), `application/yaml` or
/// Kubernetes protobuf (`skiff_proto::protobuf`, what client-go sends for built-in kinds).
pub fn decode_object(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, RestError> {
    let media = content_type(headers);
    let value: Value = match media.as_str() {
        "" | "application/json" | "*/*" => serde_json::from_slice(bytes).map_err(|e| {
            RestError::bad_request(format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({e})"))
        })?,
        "application/yaml" => serde_yaml::from_slice(bytes).map_err(|e| {
            RestError::bad_request(format!("the body of the request was not valid YAML: {e}"))
        })?,
        skiff_proto::protobuf::MEDIA_TYPE => skiff_proto::protobuf::decode(bytes).map_err(|e| {
            RestError::bad_request(format!("the body of the request was not valid protobuf: {e}"))
        })?,
        other => {
            return Err(RestError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other:?})"
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    /// Arbitrary JSON values, nested a few levels.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("apiVersion".to_string()),
                        Just("kind".to_string()),
                        Just("metadata".to_string()),
                        Just("spec".to_string()),
                        Just("name".to_string()),
                        "[a-z]{1,5}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever the bytes, decoding answers an object or a 4xx refusal; never a panic.
        #[test]
        fn arbitrary_bodies_decode_or_are_refused_with_a_4xx(
            bytes in prop::collection::vec(any::<u8>(), 0..256),
            media in 0..3u8,
        ) {
            let media = match media {
                0 => "application/yaml",
                1 => "application/vnd.kubernetes.protobuf",
                _ => "application/json",
            };
            match decode_object(&headers(media), &bytes) {
                Ok(value) => prop_assert!(value.is_object()),
                Err(e) => prop_assert!(e.code.is_client_error(), "{e:?}"),
            }
        }

        /// Field validation of any object (known kinds or not) never panics, and what it
        /// keeps decodes.
        #[test]
        fn arbitrary_objects_are_pruned_or_refused(
            mut value in json_value(),
            kind in prop_oneof![Just("Pod"), Just("ConfigMap"), Just("Deployment"), Just("Nope")],
        ) {
            if let Some(object) = value.as_object_mut() {
                object.insert("kind".into(), Value::from(kind));
                object.insert("apiVersion".into(), Value::from(if kind == "Deployment" { "apps/v1" } else { "v1" }));
            }
            if let Ok((pruned, _)) = skiff_proto::model::prune_unknown_fields(&value) {
                prop_assert!(skiff_proto::model::Object::from_json(&pruned.to_string()).is_ok());
            }
        }
    }

    #[test]
    fn other_media_types_are_415_and_arrays_400() {
        let e = decode_object(&headers("text/plain"), b"a").unwrap_err();
        assert_eq!(e.code, 415);
        let e =
            decode_object(&headers("application/vnd.kubernetes.protobuf"), b"k8s\0").unwrap_err();
        assert_eq!(e.code, 400);
        let e = decode_object(&headers("application/json"), b"[]").unwrap_err();
        assert_eq!(e.code, 400);
    }
}
