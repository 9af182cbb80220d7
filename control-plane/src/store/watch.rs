//! The watch logic both backends share: catch up from the event log, then follow the live
//! broadcast, without a gap or a duplicate.
//!
//! Why it is gap-free: a backend broadcasts each event after its commit and in revision
//! order (it sends while still holding its write lock). A watcher subscribes to the
//! broadcast *before* its first log read, so every event is either in that read (committed
//! before it) or in the receiver (sent after the subscription) — or both, which the cursor
//! dedups. A receiver that lags (the buffer overflowed) loses the oldest buffered events,
//! so the watcher goes back to the log from its cursor and then resumes the receiver,
//! skipping what it has already seen. Only if that stretch of the log was compacted in the
//! meantime does the stream yield `Compacted` and end: the caller relists.
//!
//! Progress: the cursor also moves past events of other kinds, which the watcher reads
//! and drops. When nothing is pending and the broadcast has nothing queued, the watch
//! reports the cursor as [`Watched::Progress`] if it moved since the last event or report,
//! so a burst of other kinds' writes costs one report, not one per write.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::broadcast::{self, error::RecvError};

use super::{Event, ProgressStream, StoreError, Watched};

/// How many events one catch-up read returns, so a watcher that resumes far back does not
/// load the whole log at once.
pub(crate) const PAGE: usize = 500;

/// One read of a backend's event log.
#[derive(Debug)]
pub(crate) struct LogPage {
    /// Events with revision > `after` (of the kind asked for), in revision order, at most `limit`.
    pub events: Vec<Event>,
    /// Every event of the kind with revision ≤ `through` is in this page or an earlier one:
    /// the last event's revision when the page is full, else the revision the log was at.
    pub through: i64,
}

impl LogPage {
    /// Builds a page from events read with `limit`, the log's revision at the read.
    pub(crate) fn new(events: Vec<Event>, limit: usize, log_revision: i64) -> Self {
        let through = match events.last() {
            Some(last) if events.len() >= limit => last.revision(),
            _ => log_revision,
        };
        LogPage { events, through }
    }

    fn is_last(&self, limit: usize) -> bool {
        self.events.len() < limit
    }
}

/// What a backend provides so the shared watch can catch up from its log.
pub(crate) trait EventLog: Send + Sync + 'static {
    /// Up to `limit` events with revision > `after` (of `kind` when given), read from one
    /// consistent snapshot. `Compacted` when `after` is older than the compaction point.
    fn read_after(
        &self,
        kind: Option<String>,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<LogPage, StoreError>>;
}

enum Mode {
    CatchUp,
    Live,
    Done,
}

struct Watch {
    log: Arc<dyn EventLog>,
    rx: broadcast::Receiver<Event>,
    kind: Option<String>,
    /// Every event with revision ≤ cursor has been delivered or filtered out.
    cursor: i64,
    /// The revision last yielded (an event's or a progress report's).
    reported: i64,
    pending: VecDeque<Event>,
    mode: Mode,
}

/// A backend's [`Store::watch_progress`](super::Store::watch_progress): its event log to
/// catch up from, its broadcast for the live events.
pub(crate) fn watch<'a, L: EventLog + Clone>(
    log: &'a L,
    sender: &'a broadcast::Sender<Event>,
    kind: Option<&str>,
    from: i64,
) -> BoxFuture<'a, Result<ProgressStream, StoreError>> {
    let kind = kind.map(str::to_owned);
    Box::pin(async move {
        let log: Arc<dyn EventLog> = Arc::new(log.clone());
        start(log, sender, kind.as_deref(), from).await
    })
}

/// Starts a watch: subscribes first, then reads the first page of the log eagerly so that a
/// compacted `from` is refused by `watch()` itself rather than by the first stream item.
async fn start(
    log: Arc<dyn EventLog>,
    sender: &broadcast::Sender<Event>,
    kind: Option<&str>,
    from: i64,
) -> Result<ProgressStream, StoreError> {
    let rx = sender.subscribe();
    let kind = kind.map(str::to_owned);
    let page = log.read_after(kind.clone(), from, PAGE).await?;
    let mode = if page.is_last(PAGE) {
        Mode::Live
    } else {
        Mode::CatchUp
    };
    tracing::debug!(
        kind = kind.as_deref().unwrap_or("*"),
        from,
        through = page.through,
        "watch started"
    );
    let watch = Watch {
        log,
        rx,
        kind,
        cursor: page.through,
        reported: from,
        pending: page.events.into(),
        mode,
    };
    Ok(Box::pin(futures::stream::unfold(
        watch,
        |mut w| async move {
            let item = w.next().await?;
            Some((item, w))
        },
    )))
}

impl Watch {
    async fn next(&mut self) -> Option<Result<Watched, StoreError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.reported = event.revision();
                return Some(Ok(Watched::Event(event)));
            }
            let idle = match self.mode {
                Mode::Live => self.rx.is_empty(),
                Mode::CatchUp => true,
                Mode::Done => false,
            };
            if idle && self.cursor > self.reported {
                self.reported = self.cursor;
                return Some(Ok(Watched::Progress(self.cursor)));
            }
            match self.mode {
                Mode::Done => return None,
                Mode::CatchUp => {
                    match self
                        .log
                        .read_after(self.kind.clone(), self.cursor, PAGE)
                        .await
                    {
                        Ok(page) => {
                            if page.is_last(PAGE) {
                                self.mode = Mode::Live;
                            }
                            self.cursor = page.through;
                            self.pending.extend(page.events);
                        }
                        Err(e) => {
                            tracing::warn!(cursor = self.cursor, error = %e, "watch cannot catch up");
                            self.mode = Mode::Done;
                            return Some(Err(e));
                        }
                    }
                }
                Mode::Live => match self.rx.recv().await {
                    Ok(event) => {
                        let revision = event.revision();
                        if revision <= self.cursor {
                            continue; // already read from the log
                        }
                        if revision > self.cursor + 1 {
                            // Cannot happen while backends broadcast every commit in order;
                            // if it ever does, the log is the truth: re-read it.
                            tracing::warn!(
                                cursor = self.cursor,
                                revision,
                                "watch saw a gap, re-reading the log"
                            );
                            self.mode = Mode::CatchUp;
                            continue;
                        }
                        self.cursor = revision;
                        if self
                            .kind
                            .as_deref()
                            .is_none_or(|k| k == event.object.key.kind)
                        {
                            self.reported = revision;
                            return Some(Ok(Watched::Event(event)));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(
                            cursor = self.cursor,
                            missed,
                            "watch lagged, re-reading the log"
                        );
                        self.mode = Mode::CatchUp;
                    }
                    Err(RecvError::Closed) => {
                        self.mode = Mode::Done;
                        return Some(Err(StoreError::Backend("store closed".into())));
                    }
                },
            }
        }
    }
}

/// The events of a progress stream alone: a backend's [`Store::watch`](super::Store::watch).
pub(crate) fn events_only(
    watch: BoxFuture<'_, Result<ProgressStream, StoreError>>,
) -> BoxFuture<'_, Result<super::EventStream, StoreError>> {
    use futures::StreamExt;
    Box::pin(async move {
        let stream = watch.await?;
        Ok(stream
            .filter_map(|item| {
                futures::future::ready(match item {
                    Ok(Watched::Event(event)) => Some(Ok(event)),
                    Ok(Watched::Progress(_)) => None,
                    Err(e) => Some(Err(e)),
                })
            })
            .boxed())
    })
}
