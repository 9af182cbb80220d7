//! Following kinds for loops that must never stop watching (the controllers' runtime, the
//! scheduler). A watcher resumes after the last event it saw; a lost or refused watch is
//! restarted from the current revision, with backoff, and reported as a gap, since
//! anything may have happened in between. Callers re-read what they act on, so a gap
//! costs them a full pass, never a missed change.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use super::{Event, Store};

const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// What a follower sends: one item per event, and one per gap in the watch.
pub trait Notice: Send + 'static {
    fn event(event: Event) -> Self;
    fn gap() -> Self;
}

/// Watches each of `kinds` from revision `from` and sends their events (and gaps) into a
/// channel of `buffer` items. The watchers stop when the receiver is dropped.
pub fn follow_kinds<N: Notice>(
    store: Arc<dyn Store>,
    kinds: impl IntoIterator<Item = &'static str>,
    from: i64,
    buffer: usize,
) -> mpsc::Receiver<N> {
    let (tx, rx) = mpsc::channel(buffer);
    for kind in kinds {
        tokio::spawn(follow_kind(store.clone(), kind, from, tx.clone()));
    }
    rx
}

async fn follow_kind<N: Notice>(
    store: Arc<dyn Store>,
    kind: &'static str,
    mut from: i64,
    tx: mpsc::Sender<N>,
) {
    let mut retry = RETRY_INITIAL;
    loop {
        let watch = tokio::select! {
            watch = store.watch(Some(kind), from) => watch,
            _ = tx.closed() => return,
        };
        match watch {
            Ok(mut events) => loop {
                tokio::select! {
                    event = events.next() => match event {
                        Some(Ok(event)) => {
                            from = event.revision();
                            retry = RETRY_INITIAL;
                            if tx.send(N::event(event)).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(error)) => {
                            tracing::warn!(kind, %error, "watch lost; restarting");
                            break;
                        }
                        None => break,
                    },
                    _ = tx.closed() => return,
                }
            },
            Err(error) => tracing::warn!(kind, %error, "watch failed; retrying"),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
        match store.current_revision().await {
            Ok(revision) => from = revision,
            Err(_) => continue,
        }
        if tx.send(N::gap()).await.is_err() {
            return;
        }
    }
}
