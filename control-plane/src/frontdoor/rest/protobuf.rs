//! Protobuf replies (`application/vnd.kubernetes.protobuf`) for clients that ask for
//! them before JSON, as client-go does for built-in kinds: the handlers answer in JSON
//! and the reply is re-encoded here, once, by `skiff_proto::protobuf`. A watch becomes
//! length-prefixed `WatchEvent` frames. What has no protobuf form in Kubernetes (Tables,
//! custom kinds, discovery documents asked for with `as=`) stays JSON, as
//! kube-apiserver answers when the client also accepts JSON.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use skiff_proto::protobuf::{self, MEDIA_TYPE, WATCH_MEDIA_TYPE};
use tracing::warn;

use super::reply::{self, Body};
use super::status::RestError;

/// Whether `Accept` names protobuf before any JSON it takes (parameters such as
/// `as=Table` ask for something else, which is answered in JSON).
pub fn wanted(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let transformed = parts.any(|p| p.starts_with("as="));
        match media.as_str() {
            MEDIA_TYPE if !transformed => return true,
            "application/json" | "application/yaml" | "application/*" | "*/*" => return false,
            _ => {}
        }
    }
    false
}

/// The reply re-encoded as protobuf when it is a JSON object (or a watch of them) of a
/// kind with a protobuf form; anything else as it is.
pub async fn answer(watch: bool, response: Response<Body>) -> Response<Body> {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == reply::JSON);
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if watch {
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(WATCH_MEDIA_TYPE),
        );
        let frames = reply::stream(WATCH_MEDIA_TYPE, watch_frames(body));
        return Response::from_parts(parts, frames.into_body());
    }
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return reply::error(&RestError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("reading the reply: {e}"),
            ))
        }
    };
    let encoded = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(object_with_form)
        .map(|v| protobuf::encode(&v));
    let (content_type, bytes) = match encoded {
        Some(Ok(encoded)) => (MEDIA_TYPE, Bytes::from(encoded)),
        Some(Err(e)) => {
            return reply::error(&RestError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("encoding the reply as protobuf: {e}"),
            ))
        }
        None => (reply::JSON, bytes),
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(
        parts,
        reply::bytes_with(StatusCode::OK, content_type, bytes).into_body(),
    )
}

fn object_with_form(value: &Value) -> bool {
    let text = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
    value.is_object() && protobuf::has_form(text("apiVersion"), text("kind"))
}

/// The JSON lines of a watch (`{"type":..,"object":..}`) as protobuf frames.
fn watch_frames(
    body: Body,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    body.into_data_stream()
        .scan(BytesMut::new(), |pending, chunk| {
            let out = match chunk {
                Ok(chunk) => {
                    pending.extend_from_slice(&chunk);
                    let mut frames = Vec::new();
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let line = pending.split_to(end + 1);
                        frames.extend(frame(&line[..end]));
                    }
                    Ok(Bytes::from(frames))
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            futures::future::ready(Some(out))
        })
        .filter(|chunk| futures::future::ready(!matches!(chunk, Ok(c) if c.is_empty())))
}

/// One event line as a frame; a line that cannot be encoded is logged and left out.
fn frame(line: &[u8]) -> Vec<u8> {
    let event: Value = match serde_json::from_slice(line) {
        Ok(event) => event,
        Err(e) => {
            warn!(error = %e, "a watch event that is not JSON");
            return vec![];
        }
    };
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match protobuf::watch_frame(kind, &event["object"]) {
        Ok(frame) => frame,
        Err(e) => {
            warn!(error = %e, "a watch event without a protobuf form");
            vec![]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        headers
    }

    #[test]
    fn protobuf_is_answered_when_asked_for_before_json() {
        assert!(wanted(&accept("application/vnd.kubernetes.protobuf, */*")));
        assert!(wanted(&accept(
            "application/vnd.kubernetes.protobuf,application/json"
        )));
        assert!(!wanted(&accept(
            "application/json, application/vnd.kubernetes.protobuf"
        )));
        assert!(!wanted(&accept(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        )));
        assert!(!wanted(&accept(
            "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wanted(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn objects_are_re_encoded_and_the_rest_left_as_it_is() {
        let object = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#;
        let response = answer(
            false,
            reply::bytes_with(StatusCode::CREATED, reply::JSON, &object[..]),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], MEDIA_TYPE);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            protobuf::decode(&bytes).unwrap(),
            serde_json::from_slice::<Value>(object).unwrap()
        );
        let table = br#"{"apiVersion":"meta.k8s.io/v1","kind":"Table","rows":[]}"#;
        let response = answer(
            false,
            reply::bytes_with(StatusCode::OK, reply::JSON, &table[..]),
        )
        .await;
        assert_eq!(response.headers()[header::CONTENT_TYPE], reply::JSON);
        let response = answer(false, reply::text(StatusCode::OK, "log line")).await;
        assert!(response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
    }

    #[tokio::test]
    async fn watch_lines_become_frames_even_when_split_across_chunks() {
        let lines = concat!(
            r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}}"#,
            "\n",
            r#"{"type":"DELETED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}}"#,
            "\n"
        )
        .as_bytes();
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::copy_from_slice(&lines[..30])),
            Ok(Bytes::copy_from_slice(&lines[30..])),
        ];
        let response = answer(
            true,
            reply::stream(reply::JSON, futures::stream::iter(chunks)),
        )
        .await;
        assert_eq!(response.headers()[header::CONTENT_TYPE], WATCH_MEDIA_TYPE);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let mut rest = &bytes[..];
        let mut seen = vec![];
        while !rest.is_empty() {
            let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let (kind, object) = protobuf::decode_watch_event(&rest[4..4 + length]).unwrap();
            seen.push(format!(
                "{kind} {}",
                object["metadata"]["name"].as_str().unwrap()
            ));
            rest = &rest[4 + length..];
        }
        assert_eq!(seen, ["ADDED a", "DELETED b"]);
    }
}
