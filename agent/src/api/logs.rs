//! Container logs, read from the CRI log files the agent's copier writes
//! (`container_logs`), with the kubelet's tail, since, timestamps and limit.

use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use skiff_proto::v1::{LogChunk, LogsRequest};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::error::ApiError;
use super::log_source::log_attempt;
use crate::container_logs::{LogQuery, LogReader};
use crate::pod_dirs;
use crate::pods::StatusStore;

const CHUNK: usize = 64 * 1024;
const POLL: Duration = Duration::from_millis(100);

/// Picks the container as kubectl does: the named one, or the pod's only one.
pub(super) fn pick_container<'a>(
    pod: &'a Pod,
    name: &str,
) -> Result<&'a ContainerStatus, ApiError> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    let status = pod.status.as_ref();
    let all: Vec<&ContainerStatus> = status
        .iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .collect();
    let names = all
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        let app: Vec<&ContainerStatus> = status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
            .collect();
        return match app.as_slice() {
            [only] => Ok(only),
            _ => Err(ApiError::InvalidArgument(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{names}]",
            ))),
        };
    }
    all.into_iter().find(|c| c.name == name).ok_or_else(|| {
        ApiError::InvalidArgument(format!(
            "container {name} is not valid for pod {pod_name}, choose one of: [{names}]"
        ))
    })
}

fn is_running_attempt(
    store: &StatusStore,
    ns: &str,
    pod: &str,
    container: &str,
    attempt: i32,
) -> bool {
    store.get(ns, pod).is_some_and(|p| {
        p.status
            .iter()
            .flat_map(|s| {
                s.init_container_statuses
                    .iter()
                    .flatten()
                    .chain(s.container_statuses.iter().flatten())
            })
            .any(|c| {
                c.name == container
                    && c.restart_count == attempt
                    && c.state.as_ref().is_some_and(|s| s.running.is_some())
            })
    })
}

pub fn stream(
    store: StatusStore,
    root: PathBuf,
    ns: &str,
    req: &LogsRequest,
) -> Result<ReceiverStream<Result<LogChunk, Status>>, ApiError> {
    let pod = store
        .get(ns, &req.pod)
        .ok_or_else(|| ApiError::PodNotFound(req.pod.clone()))?;
    let status = pick_container(&pod, &req.container)?;
    let container = status.name.clone();
    let attempt = log_attempt(status, &req.pod, req.previous)?;
    let path = pod_dirs::log_path(&root, &pod, &container, attempt);
    let query = query(req)?;
    let gone = || {
        ApiError::NotReady(format!(
            "the log of container {container:?} in pod {:?} is gone from the node",
            req.pod
        ))
    };
    let mut reader = LogReader::open(&path, query)
        .map_err(|_| gone())?
        .ok_or_else(gone)?;
    let (tx, rx) = mpsc::channel(16);
    let mut out = Out {
        tx,
        left: u64::try_from(req.limit_bytes).ok().filter(|n| *n > 0),
    };
    let follow = req.follow && !req.previous;
    let (ns, pod_name) = (ns.to_string(), req.pod.clone());
    tokio::spawn(async move {
        loop {
            let chunk = match reader.next_chunk() {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = out.tx.send(Err(Status::internal(e.to_string()))).await;
                    return;
                }
            };
            if !chunk.is_empty() {
                for piece in chunk.chunks(CHUNK) {
                    if !out.send(piece).await {
                        return;
                    }
                }
                continue;
            }
            if !follow {
                break;
            }
            if !is_running_attempt(&store, &ns, &pod_name, &container, attempt as i32) {
                // Drain what the copier wrote before the exit, then end the stream.
                tokio::time::sleep(POLL).await;
                while let Ok(chunk) = reader.next_chunk() {
                    if chunk.is_empty() || !out.send(&chunk).await {
                        break;
                    }
                }
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = out.tx.closed() => return,
            }
        }
        let rest = reader.finish();
        out.send(&rest).await;
    });
    Ok(ReceiverStream::new(rx))
}

/// The request's tail, since and timestamps; `since_seconds` counts back from now.
fn query(req: &LogsRequest) -> Result<LogQuery, ApiError> {
    let since_time = if req.since_time.is_empty() {
        None
    } else {
        Some(req.since_time.parse::<Timestamp>().map_err(|_| {
            ApiError::InvalidArgument(format!(
                "since_time {:?} is not an RFC3339 time",
                req.since_time
            ))
        })?)
    };
    let since_seconds = (req.since_seconds > 0)
        .then(|| Timestamp::now().checked_sub(SignedDuration::from_secs(req.since_seconds)))
        .transpose()
        .map_err(|e| ApiError::InvalidArgument(format!("since_seconds: {e}")))?;
    Ok(LogQuery {
        tail: u64::try_from(req.tail_lines).ok(),
        since: since_seconds.or(since_time),
        timestamps: req.timestamps,
    })
}

/// The caller's end of a log stream, with what is left of its `limit_bytes`.
struct Out {
    tx: mpsc::Sender<Result<LogChunk, Status>>,
    left: Option<u64>,
}

impl Out {
    /// Sends `bytes` (cut to the limit); false once the caller left or the limit is hit.
    async fn send(&mut self, bytes: &[u8]) -> bool {
        let (bytes, more) = limit(bytes, &mut self.left);
        if !bytes.is_empty() {
            let chunk = LogChunk {
                data: bytes.to_vec(),
            };
            if self.tx.send(Ok(chunk)).await.is_err() {
                return false;
            }
        }
        more
    }
}

/// `bytes` cut to what `left` allows, and whether anything may follow.
fn limit<'a>(bytes: &'a [u8], left: &mut Option<u64>) -> (&'a [u8], bool) {
    let Some(n) = left else {
        return (bytes, true);
    };
    let take = bytes.len().min(usize::try_from(*n).unwrap_or(usize::MAX));
    *n -= take as u64;
    (&bytes[..take], *n > 0)
}

#[cfg(test)]
mod tests {
    use super::limit;

    #[test]
    fn limit_bytes_cuts_and_ends() {
        let mut left = Some(5);
        assert_eq!(limit(b"abc", &mut left), (&b"abc"[..], true));
        assert_eq!(limit(b"defg", &mut left), (&b"de"[..], false));
        let mut none = None;
        assert_eq!(limit(b"abc", &mut none), (&b"abc"[..], true));
    }
}
