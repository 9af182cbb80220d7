//! Container logs, read from the files the shim writes (the agent never sits in the path,
//! so logs keep flowing while it restarts).

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use skiff_proto::v1::{LogChunk, LogsRequest};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::error::ApiError;
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
    let attempt = if req.previous {
        if status.restart_count == 0 {
            return Err(ApiError::InvalidArgument(format!(
                "previous terminated container {container:?} in pod {:?} not found",
                req.pod
            )));
        }
        status.restart_count - 1
    } else {
        status.restart_count
    };
    let path = pod_dirs::log_path(&root, &pod, &container, attempt as u32);
    let mut file = std::fs::File::open(&path).map_err(|_| {
        let waiting = status
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone());
        ApiError::NotReady(format!(
            "container {container:?} in pod {:?} is waiting to start: {}",
            req.pod,
            waiting.unwrap_or_else(|| "ContainerCreating".into())
        ))
    })?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let offset = data.len() as u64;
    let start = tail_start(&data, req.tail_lines);
    let (tx, rx) = mpsc::channel(16);
    let follow = req.follow && !req.previous;
    let (ns, pod_name) = (ns.to_string(), req.pod.clone());
    tokio::spawn(async move {
        for chunk in data[start..].chunks(CHUNK) {
            if tx
                .send(Ok(LogChunk {
                    data: chunk.to_vec(),
                }))
                .await
                .is_err()
            {
                return;
            }
        }
        if !follow {
            return;
        }
        let mut offset = offset;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file
                .seek(SeekFrom::Start(offset))
                .and_then(|_| file.read(&mut buf))
                .unwrap_or(0);
            if n > 0 {
                offset += n as u64;
                if tx
                    .send(Ok(LogChunk {
                        data: buf[..n].to_vec(),
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            if !is_running_attempt(&store, &ns, &pod_name, &container, attempt) {
                // Drain what the shim wrote before the exit, then end the stream.
                tokio::time::sleep(POLL).await;
                while let Ok(n @ 1..) = file
                    .seek(SeekFrom::Start(offset))
                    .and_then(|_| file.read(&mut buf))
                {
                    offset += n as u64;
                    if tx
                        .send(Ok(LogChunk {
                            data: buf[..n].to_vec(),
                        }))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}

/// Byte offset where the last `tail` lines start; negative means everything.
fn tail_start(data: &[u8], tail: i64) -> usize {
    if tail < 0 {
        return 0;
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == tail {
                return i + 1;
            }
        }
    }
    if tail == 0 {
        data.len()
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::tail_start;

    #[test]
    fn tail_lines() {
        let d = b"a\nb\nc\n";
        assert_eq!(&d[tail_start(d, -1)..], b"a\nb\nc\n");
        assert_eq!(&d[tail_start(d, 2)..], b"b\nc\n");
        assert_eq!(&d[tail_start(d, 5)..], b"a\nb\nc\n");
        assert_eq!(&d[tail_start(d, 0)..], b"");
    }
}
