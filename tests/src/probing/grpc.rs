//! A gRPC health server made of busybox alone, since there is no gRPC server image: the
//! HTTP/2 frames of one `grpc.health.v1.Health/Check` answer, prepared byte by byte and
//! replayed by `nc` to every connection.

/// A container script that answers every gRPC connection on `port` with a canned
/// `grpc.health.v1.Health/Check` response (`serving` true: SERVING, else NOT_SERVING),
/// using only busybox: `nc -ll -e` runs a responder per connection that waits for the
/// client's request to be sent, writes the prepared HTTP/2 frames and keeps the connection
/// open until the client is done with it.
pub fn grpc_health_server(port: u16, serving: bool) -> String {
    let bytes: String = grpc_health_response(serving)
        .iter()
        .map(|b| format!("\\{b:03o}"))
        .collect();
    format!(
        "printf '{bytes}' > /tmp/h2; printf '#!/bin/sh\\nsleep 0.2\\ncat /tmp/h2\\nsleep 3\\n' > /tmp/respond; chmod +x /tmp/respond; exec nc -ll -p {port} -e /tmp/respond"
    )
}

/// The server side of one unary gRPC call on stream 1: SETTINGS, SETTINGS ack, response
/// HEADERS (`:status 200`, `content-type: application/grpc`), one DATA frame holding a
/// `HealthCheckResponse`, and the trailers (`grpc-status: 0`) ending the stream. Header
/// blocks use HPACK literals without indexing, so no dynamic table state is involved.
pub fn grpc_health_response(serving: bool) -> Vec<u8> {
    fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
    }
    fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
        block.push(0x00);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    const DATA: u8 = 0x0;
    const HEADERS: u8 = 0x1;
    const SETTINGS: u8 = 0x4;
    const END_STREAM: u8 = 0x1;
    const END_HEADERS: u8 = 0x4;
    let mut out = Vec::new();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    frame(&mut out, SETTINGS, 0x1, 0, &[]);
    let mut headers = vec![0x88]; // `:status: 200`, static table entry 8
    literal(&mut headers, "content-type", "application/grpc");
    frame(&mut out, HEADERS, END_HEADERS, 1, &headers);
    // Field 1 (status), varint: SERVING = 1, NOT_SERVING = 2; behind gRPC's
    // 5-byte prefix (not compressed, length 2).
    let status = if serving { 1 } else { 2 };
    frame(&mut out, DATA, 0, 1, &[0, 0, 0, 0, 2, 0x08, status]);
    let mut trailers = Vec::new();
    literal(&mut trailers, "grpc-status", "0");
    frame(&mut out, HEADERS, END_HEADERS | END_STREAM, 1, &trailers);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_response_frames() {
        let bytes = grpc_health_response(true);
        // SETTINGS, SETTINGS ack, then HEADERS on stream 1.
        assert_eq!(&bytes[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[9..18], &[0, 0, 0, 4, 1, 0, 0, 0, 0]);
        assert_eq!(&bytes[18..27], &[0, 0, 32, 1, 4, 0, 0, 0, 1]);
        assert!(bytes.ends_with(b"grpc-status\x010"));
        let script = grpc_health_server(50051, false);
        assert!(script.contains("\\000\\000\\000\\004") && script.contains("-p 50051"));
    }
}
