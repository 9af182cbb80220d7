//! Agent.Attach: the caller joins a running container's main process (`kubectl attach`,
//! `kubectl run -it`). Output is the container's log from now on, followed as for
//! `logs -f` (the shim, or for a terminal the agent's copy, writes it there); stdin goes
//! to the FIFO the container was created with (`containerd/container/interactive.rs`);
//! resizes go to its terminal. The session ends when the container does, or when the
//! caller leaves; with `stdinOnce` the container's stdin closes after the first session.

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use skiff_proto::v1::exec_input::Input;
use skiff_proto::v1::exec_output::Output;
use skiff_proto::v1::{ExecInput, ExecOutput, ExecStart, LogsRequest};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::{debug, info};

use super::error::ApiError;
use super::exec::{read_start, ExecBackend};
use super::logs::{self, pick_container};
use crate::pods::StatusStore;

const CHANNEL: usize = 16;

/// How the container was created: what an attach may use.
struct Attachable {
    container_id: String,
    container: String,
    stdin: bool,
    stdin_once: bool,
}

fn attachable(pod: &Pod, start: &ExecStart) -> Result<Attachable, ApiError> {
    let status = pick_container(pod, &start.container)?;
    let id = status
        .container_id
        .as_deref()
        .and_then(|id| id.strip_prefix("containerd://"));
    let running = status.state.as_ref().is_some_and(|s| s.running.is_some());
    let Some(id) = id.filter(|_| running) else {
        return Err(ApiError::NotReady(format!(
            "cannot attach to container {} of pod {}: it is not running",
            status.name, start.pod
        )));
    };
    let spec = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
        .find(|c| c.name == status.name);
    let stdin = spec.is_some_and(|c| c.stdin == Some(true));
    if start.stdin && !stdin {
        return Err(ApiError::InvalidArgument(format!(
            "container {} of pod {} was not created with stdin: true, so it has no stdin to attach to",
            status.name, start.pod
        )));
    }
    Ok(Attachable {
        container_id: id.to_string(),
        container: status.name.clone(),
        stdin,
        stdin_once: spec.is_some_and(|c| c.stdin_once == Some(true)),
    })
}

/// Starts one attach session from the caller's stream.
pub async fn session<S>(
    store: &StatusStore,
    root: PathBuf,
    backend: Arc<dyn ExecBackend>,
    mut inbound: S,
) -> Result<ReceiverStream<Result<ExecOutput, Status>>, ApiError>
where
    S: futures::Stream<Item = Result<ExecInput, Status>> + Send + Unpin + 'static,
{
    let start = read_start(&mut inbound, "attach").await?;
    let ns = if start.namespace.is_empty() {
        "default".to_string()
    } else {
        start.namespace.clone()
    };
    let pod = store
        .get(&ns, &start.pod)
        .ok_or_else(|| ApiError::PodNotFound(start.pod.clone()))?;
    let target = attachable(&pod, &start)?;
    // The log from its current end: what the process writes from now on.
    let follow = LogsRequest {
        namespace: ns.clone(),
        pod: start.pod.clone(),
        container: target.container.clone(),
        follow: true,
        tail_lines: 0,
        ..Default::default()
    };
    let mut output = logs::stream(store.clone(), root, &ns, &follow)?;
    info!(pod = %start.pod, container = %target.container_id, stdin = start.stdin, "attach session");

    let stdin = target
        .stdin
        .then(|| backend.container_stdin(&target.container_id))
        .flatten()
        .filter(|_| start.stdin);
    let (tx, rx) = mpsc::channel(CHANNEL);
    let input_backend = backend.clone();
    let id = target.container_id.clone();
    let stdin_once = target.stdin_once;
    tokio::spawn(async move {
        let mut stdin = stdin;
        let attached = stdin.is_some();
        while let Some(Ok(message)) = inbound.next().await {
            match message.input {
                Some(Input::Stdin(bytes)) => {
                    if let Some(stdin) = &stdin {
                        if let Err(error) = stdin.lock().await.write_all(&bytes).await {
                            debug!(%error, "attach: the container's stdin is closed");
                        }
                    }
                }
                Some(Input::Resize(size)) => {
                    input_backend
                        .resize_container(&id, size.width, size.height)
                        .await
                }
                Some(Input::CloseStdin(true)) => stdin = None,
                _ => {}
            }
        }
        // stdinOnce: the first session's end is the end of the container's stdin.
        if stdin_once && attached {
            debug!(container = %id, "attach over: closing the container's stdin (stdinOnce)");
            drop(stdin);
            input_backend.close_container_stdin(&id);
        }
    });
    tokio::spawn(async move {
        while let Some(chunk) = output.next().await {
            let message = match chunk {
                Ok(chunk) => Ok(ExecOutput {
                    output: Some(Output::Stdout(chunk.data)),
                }),
                Err(status) => Err(status),
            };
            if tx.send(message).await.is_err() {
                return;
            }
        }
        let end = ExecOutput {
            output: Some(Output::ExitCode(0)),
        };
        let _ = tx.send(Ok(end)).await;
    });
    Ok(ReceiverStream::new(rx))
}
