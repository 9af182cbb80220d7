//! How a document request is answered, as kube-apiserver's OpenAPI v3 handler answers
//! it: `ETag` always; with the current `?hash=` also `Cache-Control: public, immutable`
//! and an `Expires` a year ahead; an outdated hash redirected (301) to the current URL;
//! `If-None-Match` with the ETag answered 304; a client accepting no JSON 406.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

use super::Document;

/// The answer to one request for `doc`.
#[derive(Debug)]
pub enum Answer {
    Redirect(String),
    NotModified,
    NotAcceptable,
    Json { gzip: bool, body: Bytes },
}

/// Decides the answer from the request's `hash` query value and headers.
pub fn answer(
    doc: &Document,
    hash: Option<&str>,
    headers: &HeaderMap,
) -> std::io::Result<Response<Bytes>> {
    let decision = decide(doc, hash, headers)?;
    let mut response = Response::builder().header(header::VARY, "Accept");
    let etag = format!("\"{}\"", doc.etag());
    response = response.header(header::ETAG, &etag);
    if hash.is_some_and(|h| h == doc.etag()) {
        response = response
            .header(header::CACHE_CONTROL, "public, immutable")
            .header(header::EXPIRES, a_year_ahead());
    }
    let response = match decision {
        Answer::Redirect(location) => response
            .status(StatusCode::MOVED_PERMANENTLY)
            .header(header::LOCATION, location)
            .body(Bytes::new()),
        Answer::NotModified => response.status(StatusCode::NOT_MODIFIED).body(Bytes::new()),
        Answer::NotAcceptable => response
            .status(StatusCode::NOT_ACCEPTABLE)
            .body(Bytes::new()),
        Answer::Json { gzip, body } => {
            let mut response = response
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json");
            if gzip {
                response = response.header(header::CONTENT_ENCODING, "gzip");
            }
            response.body(body)
        }
    };
    Ok(response.expect("static headers are valid"))
}

fn decide(doc: &Document, hash: Option<&str>, headers: &HeaderMap) -> std::io::Result<Answer> {
    if let Some(hash) = hash {
        if hash != doc.etag() {
            return Ok(Answer::Redirect(doc.server_relative_url()));
        }
    }
    if !accepts_json(header_str(headers, header::ACCEPT)) {
        return Ok(Answer::NotAcceptable);
    }
    if let Some(tags) = header_str(headers, header::IF_NONE_MATCH) {
        let quoted = format!("\"{}\"", doc.etag());
        if tags
            .split(',')
            .any(|t| t.trim() == quoted || t.trim() == "*")
        {
            return Ok(Answer::NotModified);
        }
    }
    if accepts_gzip(header_str(headers, header::ACCEPT_ENCODING)) {
        Ok(Answer::Json {
            gzip: true,
            body: Bytes::from_static(doc.gzip()),
        })
    } else {
        Ok(Answer::Json {
            gzip: false,
            body: Bytes::from(doc.json()?),
        })
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// No `Accept` means anything; otherwise a range naming JSON or a wildcard.
fn accepts_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return true };
    accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or("").trim();
        matches!(media, "application/json" | "application/*" | "*/*" | "")
    })
}

/// `gzip` listed without `q=0`.
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|value| {
        value.split(',').any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    == Some(0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

/// `Expires`, in HTTP's date format, a year from now.
fn a_year_ahead() -> HeaderValue {
    let when = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(365 * 24);
    let text = when.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("0"))
}
