//! Which wire a port-forward request asks for, and the 101 answer that accepts it, as
//! kube-apiserver and the kubelet decide:
//!
//! - a WebSocket offering `SPDY/3.1+portforward.k8s.io`: SPDY tunnelled through binary
//!   messages (KEP-4006; what kubectl 1.30+ tries first);
//! - a WebSocket offering `v4.channel.k8s.io` (or no subprotocol) with `?ports=`: the
//!   channel protocol (what the kube crate and older clients speak);
//! - `Upgrade: SPDY/3.1` with `X-Stream-Protocol-Version: portforward.k8s.io`: plain
//!   SPDY on the upgraded HTTP/1.1 connection (kubectl's fallback).

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The SPDY stream protocol of port-forward.
pub const PORT_FORWARD_V1: &str = "portforward.k8s.io";
/// KEP-4006's subprotocol: SPDY inside WebSocket binary messages.
pub const SPDY_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
/// The channel subprotocol port-forward serves (binary).
pub const CHANNEL_V4: &str = "v4.channel.k8s.io";
/// The header SPDY upgrades negotiate their stream protocol with.
pub const STREAM_PROTOCOL: &str = "x-stream-protocol-version";

/// The wire the connection speaks once upgraded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// SPDY in WebSocket binary messages.
    SpdyOverWebSocket,
    /// SPDY on the raw connection.
    Spdy,
    /// WebSocket channels: per port (in order) a data and an error channel.
    Channels { ports: Vec<u16> },
}

/// An accepted upgrade: the wire, and the headers of the 101 answer.
#[derive(Debug)]
pub struct Accepted {
    pub wire: Wire,
    pub headers: HeaderMap,
}

/// A refused upgrade: the HTTP code and kube-apiserver's message.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub code: StatusCode,
    pub message: String,
}

fn refused(code: StatusCode, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

/// Decides from the request's headers and query.
/// `ports` holds the request's (decoded) `ports` query values.
pub fn negotiate(headers: &HeaderMap, ports: &[&str]) -> Result<Accepted, Refused> {
    let upgrade = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if upgrade.eq_ignore_ascii_case("websocket") {
        return websocket(headers, ports);
    }
    if upgrade.to_ascii_lowercase().starts_with("spdy/3.1") {
        return spdy(headers);
    }
    Err(refused(StatusCode::BAD_REQUEST, "Upgrade request required"))
}

/// Every comma-separated value of `name`, trimmed.
fn values(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Vec<&str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

fn spdy(headers: &HeaderMap) -> Result<Accepted, Refused> {
    let offered = values(headers, STREAM_PROTOCOL);
    if !offered.is_empty() && !offered.contains(&PORT_FORWARD_V1) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [\"{PORT_FORWARD_V1}\"]"
            ),
        ));
    }
    let mut answer = HeaderMap::new();
    answer.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    answer.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    answer.insert(STREAM_PROTOCOL, HeaderValue::from_static(PORT_FORWARD_V1));
    Ok(Accepted {
        wire: Wire::Spdy,
        headers: answer,
    })
}

fn websocket(headers: &HeaderMap, ports: &[&str]) -> Result<Accepted, Refused> {
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .ok_or_else(|| refused(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key"))?;
    let offered = values(headers, SEC_WEBSOCKET_PROTOCOL);
    let (wire, protocol) = if offered.contains(&SPDY_TUNNEL) {
        (Wire::SpdyOverWebSocket, Some(SPDY_TUNNEL))
    } else if offered.is_empty() || offered.contains(&CHANNEL_V4) {
        let ports = parse_ports(ports)?;
        let protocol = (!offered.is_empty()).then_some(CHANNEL_V4);
        (Wire::Channels { ports }, protocol)
    } else {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            format!(
                "unable to upgrade: none of the requested subprotocols {offered:?} is supported (\"{SPDY_TUNNEL}\", \"{CHANNEL_V4}\")"
            ),
        ));
    };
    let mut answer = HeaderMap::new();
    answer.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    answer.insert(UPGRADE, HeaderValue::from_static("websocket"));
    let accept = derive_accept_key(key.as_bytes());
    answer.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a header value"),
    );
    if let Some(protocol) = protocol {
        answer.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    Ok(Accepted {
        wire,
        headers: answer,
    })
}

/// The `ports` query values (repeated or comma-separated), as the kubelet reads them
/// for the channel protocol.
fn parse_ports(values: &[&str]) -> Result<Vec<u16>, Refused> {
    let mut ports = Vec::new();
    for port in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if port.is_empty() {
            continue;
        }
        let parsed: u16 = port.parse().map_err(|_| {
            refused(
                StatusCode::BAD_REQUEST,
                format!("unable to parse \"{port}\" as a port: invalid syntax"),
            )
        })?;
        if parsed == 0 {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                format!("port \"{port}\" must be > 0"),
            ));
        }
        ports.push(parsed);
    }
    if ports.is_empty() {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "query parameter \"port\" is required",
        ));
    }
    Ok(ports)
}
