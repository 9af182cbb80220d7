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
//! - `allowWatchBookmarks=true`: a BOOKMARK about once a minute (`Ctx::bookmark_interval`)
//!   and one 2 seconds before the timeout, as kube-apiserver's watch cache sends them. Its
//!   resourceVersion is the revision up to which the client has seen every change in its
//!   scope, moved on by the writes it was not shown (other kinds', other namespaces'),
//!   so a watcher of a quiet kind resumes from a recent revision rather than one that
//!   gets compacted away. Not before the initial ADDED events are all out.
//! - Tables (`kubectl get -w`): every event's object is a one-row Table, BOOKMARKs too
//!   (kube-apiserver converts the bookmark object like any other).

use std::time::Duration;

use bytes::Bytes;
use futures::{stream, StreamExt};
use http::{Request, Response};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::super::reply::{self, Body};
use super::super::route::Query;
use super::super::status::RestError;
use super::super::tables::Tables;
use super::super::Ctx;
use super::read::scope;
use super::Target;
use crate::core::Clock;
use crate::resources::{self, WatchEvent, WatchStream, BOOKMARK, PROGRESS};

/// How long a watch lasts when the client names no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The last BOOKMARK goes this long before the timeout (kube-apiserver's cacheWatcher).
const BEFORE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn watch<B>(
    ctx: &Ctx,
    target: &Target<'_>,
    query: &Query,
    req: &Request<B>,
) -> Result<Response<Body>, RestError> {
    let tables = Tables::for_request(target.info.kind, req, query)?;
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
    let events = match resources::watch_with_progress(store, scope, &from).await {
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
    let now = Instant::now();
    let deadline = now + timeout;
    let lines = Lines {
        events,
        info: target.info,
        tables,
        clock: ctx.clock.clone(),
        mark_initial_end: initial == Some(true),
        // Resumed from a revision: the client has seen everything up to it. Otherwise not
        // until the initial ADDED events are out (the internal BOOKMARK after them).
        seen: from.parse::<i64>().ok().filter(|r| *r > 0),
        bookmarks: bookmarks.then_some(ctx.bookmark_interval),
        next_bookmark: None,
        deadline,
        done: false,
    };
    let lines = lines.schedule(now);
    let lines = stream::unfold(lines, |mut lines| async move {
        let line = lines.next().await?;
        Some((Ok::<_, std::io::Error>(line), lines))
    });
    Ok(reply::stream(reply::JSON, lines))
}

/// A watch's response lines: its events, BOOKMARKs on a timer, the end at the deadline.
struct Lines {
    events: WatchStream,
    info: &'static skiff_proto::kinds::KindInfo,
    tables: Option<Tables>,
    clock: std::sync::Arc<dyn Clock>,
    mark_initial_end: bool,
    /// The revision up to which the client has seen everything in its scope.
    seen: Option<i64>,
    /// The BOOKMARK period, when the client allows them.
    bookmarks: Option<Duration>,
    next_bookmark: Option<Instant>,
    deadline: Instant,
    done: bool,
}

impl Lines {
    /// When the next BOOKMARK goes: a period from `now`, or just before the deadline if
    /// that comes first; none once that has passed.
    fn schedule(mut self, now: Instant) -> Self {
        self.reschedule(now);
        self
    }

    fn reschedule(&mut self, now: Instant) {
        self.next_bookmark = self.bookmarks.and_then(|every| {
            let before_end = self.deadline.checked_sub(BEFORE_TIMEOUT)?;
            let at = (now + every).min(before_end);
            (at > now).then_some(at)
        });
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.done {
                return None;
            }
            let bookmark = self.next_bookmark.filter(|_| self.seen.is_some());
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(self.deadline) => return None,
                _ = sleep_until_some(bookmark) => {
                    self.reschedule(Instant::now());
                    let revision = self.seen.unwrap_or_default().to_string();
                    return Some(self.bookmark_line(&revision, false));
                }
                event = self.events.next() => match event {
                    None => return None,
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(error_line(&RestError::from(e)));
                    }
                    Some(Ok(event)) => {
                        if let Some(line) = self.event(event) {
                            return Some(line);
                        }
                    }
                },
            }
        }
    }

    /// An event's line, if the client sees it; keeps `seen` up to date.
    fn event(&mut self, event: WatchEvent) -> Option<Bytes> {
        let revision = event.resource_version.parse::<i64>().ok();
        match event.r#type.as_str() {
            PROGRESS => {
                self.seen = revision.or(self.seen);
                None
            }
            BOOKMARK => {
                self.seen = revision.or(self.seen);
                let wanted = self.bookmarks.is_some() && self.mark_initial_end;
                wanted.then(|| self.bookmark_line(&event.resource_version, true))
            }
            _ => {
                if self.seen.is_some() {
                    self.seen = revision.or(self.seen);
                }
                let object = event.object.as_ref()?;
                let json = match self.tables.as_mut() {
                    Some(tables) => tables.event_object(&object.json, self.clock.now()),
                    None => object.json.clone(),
                };
                Some(line(&event.r#type, &json))
            }
        }
    }

    /// A BOOKMARK: the kind with only a resourceVersion (and the initial-events-end
    /// annotation after a WatchList's initial events).
    fn bookmark_line(&mut self, revision: &str, initial_end: bool) -> Bytes {
        let mut object = json!({
            "kind": self.info.kind,
            "apiVersion": self.info.api_version(),
            "metadata": {"resourceVersion": revision},
        });
        if initial_end {
            object["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let json = serde_json::to_vec(&object).unwrap_or_default();
        let json = match self.tables.as_mut() {
            Some(tables) => tables.event_object(&json, self.clock.now()),
            None => json,
        };
        line(BOOKMARK, &json)
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
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
