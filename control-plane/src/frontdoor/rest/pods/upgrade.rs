//! Accepting a WebSocket upgrade on hyper's HTTP/1.1 connection (the listener serves
//! upgrades, `frontdoor/server.rs`): check the handshake headers, pick a subprotocol in
//! the client's order, answer 101; the socket is the request's upgraded connection.

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::super::reply::Body;
use super::super::status::RestError;

pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The 101 answer to a WebSocket handshake offering one of `offered` (names of
/// subprotocols), and the one chosen.
pub fn accept(
    headers: &HeaderMap,
    offered: &[&'static str],
) -> Result<(Response<Body>, &'static str), RestError> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .unwrap_or_default()
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let key = headers.get(header::SEC_WEBSOCKET_KEY);
    let (true, true, Some(key)) = (
        has(header::CONNECTION, "upgrade"),
        has(header::UPGRADE, "websocket"),
        key,
    ) else {
        return Err(RestError::bad_request("Upgrade request required"));
    };
    let requested = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    let chosen = requested
        .into_iter()
        .find_map(|name| offered.iter().copied().find(|o| *o == name))
        .ok_or_else(|| {
            RestError::bad_request(format!(
                "requested protocol(s) are not supported: {:?}; supports {offered:?}",
                headers
                    .get_all(header::SEC_WEBSOCKET_PROTOCOL)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
            ))
        })?;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let accept = derive_accept_key(key.as_bytes());
    if let Ok(value) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(chosen),
    );
    Ok((response, chosen))
}

/// The WebSocket once hyper has sent the 101; `None` when the client went away first.
pub async fn socket(upgrade: OnUpgrade) -> Option<Socket> {
    match upgrade.await {
        Ok(upgraded) => {
            Some(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await)
        }
        Err(error) => {
            tracing::debug!(%error, "websocket upgrade did not complete");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(protocols: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(protocols).unwrap(),
        );
        h
    }

    #[test]
    fn a_handshake_is_answered_with_the_clients_first_known_protocol() {
        let offered = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
        let (response, chosen) =
            accept(&handshake("v4.channel.k8s.io, v5.channel.k8s.io"), &offered).unwrap();
        assert_eq!(chosen, "v4.channel.k8s.io");
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        // RFC 6455's example key and answer.
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_PROTOCOL],
            "v4.channel.k8s.io"
        );
    }

    #[test]
    fn no_upgrade_or_no_common_protocol_is_a_400() {
        let offered = ["v5.channel.k8s.io"];
        let e = accept(&HeaderMap::new(), &offered).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (StatusCode::BAD_REQUEST, "Upgrade request required")
        );
        let e = accept(&handshake("base64.channel.k8s.io"), &offered).unwrap_err();
        assert_eq!(e.code, StatusCode::BAD_REQUEST);
    }
}
