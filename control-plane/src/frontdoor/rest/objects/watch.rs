//! watch: a chunked stream of `{"type": ..., "object": ...}` lines, one per change.
//!
//! - `resourceVersion` unset or "0": the current objects first, as ADDED, then changes
//!   (kube-apiserver's "start at most recent"); N: every change after N.
//! - `sendInitialEvents=true` (WatchList; needs `resourceVersionMatch=NotOlderThan` and
//!   `allowWatchBookmarks=true`, as kube-apiserver checks): the initial ADDED events end
//!   with a BOOKMARK annotated `k8s.io/initial-events-end: "true"`. With `false` and no
//!   resourceVersion, only changes from now on.
//! - A resourceVersion older than the store keeps: one ERROR event carrying a 410
//!   `Expired` Status, then the end, as kube-apiserver's watch cache answers (clients
//!   relist). The same mid-stream if a slow client falls behind compaction.
//! - `timeoutSeconds` ends the stream (default 30 minutes, kube-apiserver's
//!   `--min-request-timeout`).
//!
//! Known gap: no periodic BOOKMARK events, only the initial-events one.

use std::time::Duration;

use bytes::Bytes;
use futures::{stream, StreamExt};
use http::{Request, Response};
use serde_json::{json, Value};

use super::super::reply::{self, Body};
use super::super::route::Query;
use super::super::status::RestError;
use super::super::Ctx;
use super::read::scope;
use super::Target;
use crate::resources::{self, WatchEvent, BOOKMARK};

/// How long a watch lasts when the client names no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub async fn watch<B>(
    ctx: &Ctx,
    target: &Target<'_>,
    query: &Query,
    _req: &Request<B>,
) -> Result<Response<Body>, RestError> {
    let scope = scope(target, query)?;
    let resource_version = query.get("resourceVersion").unwrap_or_default().to_string();
    let bookmarks = query.flag("allowWatchBookmarks")?;
    let initial = match query.get("sendInitialEvents") {
        None => None,
        Some(_) => Some(query.flag("sendInitialEvents")?),
    };
    if initial == Some(true)
        && (query.get("resourceVersionMatch") != Some("NotOlderThan") || !bookmarks)
    {
        return Err(RestError::invalid(
            "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled and resourceVersionMatch is NotOlderThan and allowWatchBookmarks is true",
            vec![json!({"reason": "FieldValueForbidden", "field": "sendInitialEvents"})],
        ));
    }
    let timeout = query
        .int("timeoutSeconds")?
        .filter(|s| *s > 0)
        .map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(s as u64));
    let store = ctx.cp.store.as_ref();
    let from = match (initial, resource_version.as_str()) {
        (Some(false), "" | "0") => {
            let (_, revision) = resources::list(store, &scope)
                .await
                .map_err(RestError::from)?;
            revision.to_string()
        }
        _ => resource_version,
    };
    let (info, mark_initial_end) = (target.info, initial == Some(true));
    let events = match resources::watch(store, scope, &from).await {
        Ok(events) => events,
        Err(e @ crate::core::Error::Expired(_)) => {
            let line = error_line(&RestError::from(e));
            return Ok(reply::stream(
                reply::JSON,
                stream::iter([Ok::<_, std::io::Error>(line)]),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let lines = events
        .scan(false, move |failed, event| {
            let line = match (*failed, event) {
                (true, _) => None,
                (false, Ok(event)) => Some(event_line(info, &event, bookmarks, mark_initial_end)),
                (false, Err(e)) => {
                    *failed = true;
                    Some(Some(error_line(&RestError::from(e))))
                }
            };
            futures::future::ready(line)
        })
        .filter_map(|line| futures::future::ready(line.map(Ok::<_, std::io::Error>)))
        .take_until(tokio::time::sleep(timeout));
    Ok(reply::stream(reply::JSON, lines))
}

/// One event as its line; `None` for the internal initial BOOKMARK a client did not ask
/// for.
fn event_line(
    info: &skiff_proto::kinds::KindInfo,
    event: &WatchEvent,
    bookmarks: bool,
    mark_initial_end: bool,
) -> Option<Bytes> {
    if event.r#type == BOOKMARK {
        if !(bookmarks && mark_initial_end) {
            return None;
        }
        let object = json!({
            "kind": info.kind,
            "apiVersion": info.api_version(),
            "metadata": {
                "resourceVersion": event.resource_version,
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        });
        return Some(line(
            "BOOKMARK",
            &serde_json::to_vec(&object).unwrap_or_default(),
        ));
    }
    let object = event.object.as_ref()?;
    Some(line(&event.r#type, &object.json))
}

fn line(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(br#"","object":"#);
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn error_line(e: &RestError) -> Bytes {
    let status: Value = e.to_status();
    line("ERROR", &serde_json::to_vec(&status).unwrap_or_default())
}
