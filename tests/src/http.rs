//! A minimal HTTP/1.1 client over `std::net::TcpStream`, enough to talk to the local
//! registry (status, headers, body; Content-Length or chunked). Loopback, or a network a
//! test created itself ([`own_network`]): the harness never sends traffic anywhere else.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context};

/// Test networks (address, prefix length) created by this process: requests to them
/// are allowed too.
static OWNED: std::sync::Mutex<Vec<(Ipv4Addr, u8)>> = std::sync::Mutex::new(Vec::new());

/// Declares a network this test created (a multi-node test bridge), until [`disown_network`].
pub fn own_network(net: Ipv4Addr, prefix: u8) {
    OWNED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((net, prefix));
}

pub fn disown_network(net: Ipv4Addr, prefix: u8) {
    OWNED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|owned| *owned != (net, prefix));
}

fn owned(host: &str) -> bool {
    let Ok(ip) = host.parse::<Ipv4Addr>() else {
        return false;
    };
    let mask = |prefix: u8| u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let owned = OWNED.lock().unwrap_or_else(|p| p.into_inner());
    owned
        .iter()
        .any(|(net, prefix)| u32::from(ip) & mask(*prefix) == u32::from(*net) & mask(*prefix))
}

/// A response: status code, headers (names lower-cased) and the whole body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, for error messages and assertions.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request to `host:port` (which must be a loopback address) and reads the
/// response to the end (`Connection: close`).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<Response> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") && !owned(host) {
        bail!("refusing to send test traffic to {addr}: the harness only talks to loopback");
    }
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("{method} {path}: reading response"))?;
    parse(&raw).with_context(|| format!("{method} {path}: bad response"))
}

fn parse(raw: &[u8]) -> anyhow::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no header end")?;
    let head = std::str::from_utf8(&raw[..split])?;
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().context("empty response")?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    response.body = if response
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        dechunk(rest)?
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse()?;
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line")?;
        let size_text = std::str::from_utf8(&data[..eol])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked() {
        let r =
            parse(b"HTTP/1.1 202 Accepted\r\nLocation: /v2/x?a=b\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
        assert_eq!(
            (r.status, r.header("location"), r.text().as_str()),
            (202, Some("/v2/x?a=b"), "ok")
        );
        let r = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.text(), "abcde");
    }

    #[test]
    fn refuses_non_loopback() {
        assert!(request("10.0.0.1:80", "GET", "/", &[], b"").is_err());
    }
}
