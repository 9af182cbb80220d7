//! Agent.Exec: a command in a pod's running container, attached to the caller's stream.
//!
//! The first message names the pod, the container and the command; the container is
//! picked as for logs (the named one, or the pod's only one) and must be running. Then
//! stdin, resizes and the end of stdin flow in, output flows out, and the exit code is the
//! last message. A caller that hangs up takes the process with it.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::StreamExt;
use skiff_proto::v1::exec_input::Input;
use skiff_proto::v1::exec_output::Output;
use skiff_proto::v1::{ExecInput, ExecOutput, ExecStart};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::{debug, info, warn};

use super::error::ApiError;
use super::logs::pick_container;
use crate::containerd::container::{
    AttachInput, AttachOutput, AttachSpec, ContainerRuntime, StdinWriter,
};
use crate::containerd::RuntimeError;
use crate::pods::StatusStore;

const CHANNEL: usize = 16;

/// Runs attached execs; containerd in the agent, a fake in tests.
pub trait ExecBackend: Send + Sync {
    fn exec_attached<'a>(
        &'a self,
        container_id: &'a str,
        spec: AttachSpec,
        input: mpsc::Receiver<AttachInput>,
        output: mpsc::Sender<AttachOutput>,
    ) -> BoxFuture<'a, Result<i32, RuntimeError>>;

    /// The stdin of a running container created with `stdin: true` (attach).
    fn container_stdin(&self, container_id: &str) -> Option<StdinWriter>;
    /// Ends that stdin (`stdinOnce` once an attach is over).
    fn close_container_stdin(&self, container_id: &str);
    /// Resizes the terminal of a container created with `tty: true`.
    fn resize_container<'a>(
        &'a self,
        container_id: &'a str,
        width: u32,
        height: u32,
    ) -> BoxFuture<'a, ()>;
}

impl ExecBackend for ContainerRuntime {
    fn exec_attached<'a>(
        &'a self,
        container_id: &'a str,
        spec: AttachSpec,
        input: mpsc::Receiver<AttachInput>,
        output: mpsc::Sender<AttachOutput>,
    ) -> BoxFuture<'a, Result<i32, RuntimeError>> {
        Box::pin(ContainerRuntime::exec_attached(
            self,
            container_id,
            spec,
            input,
            output,
        ))
    }

    fn container_stdin(&self, container_id: &str) -> Option<StdinWriter> {
        self.interactive().stdin(container_id)
    }

    fn close_container_stdin(&self, container_id: &str) {
        self.interactive().close_stdin(container_id)
    }

    fn resize_container<'a>(
        &'a self,
        container_id: &'a str,
        width: u32,
        height: u32,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.resize_terminal(container_id, width, height))
    }
}

/// The containerd id of the running container `start` names.
pub(super) fn running_container(
    store: &StatusStore,
    start: &ExecStart,
) -> Result<String, ApiError> {
    let ns = if start.namespace.is_empty() {
        "default"
    } else {
        &start.namespace
    };
    let pod = store
        .get(ns, &start.pod)
        .ok_or_else(|| ApiError::PodNotFound(start.pod.clone()))?;
    let status = pick_container(&pod, &start.container)?;
    let running = status.state.as_ref().is_some_and(|s| s.running.is_some());
    let id = status
        .container_id
        .as_deref()
        .and_then(|id| id.strip_prefix("containerd://"));
    match (running, id) {
        (true, Some(id)) => Ok(id.to_string()),
        _ => {
            let why = status
                .state
                .as_ref()
                .and_then(|s| {
                    s.waiting
                        .as_ref()
                        .and_then(|w| w.reason.clone())
                        .or_else(|| s.terminated.as_ref().map(|_| "terminated".to_string()))
                })
                .unwrap_or_else(|| "not started".into());
            Err(ApiError::NotReady(format!(
                "cannot exec into container {} of pod {}: it is not running ({why})",
                status.name, start.pod
            )))
        }
    }
}

fn input_of(message: ExecInput) -> Option<AttachInput> {
    match message.input? {
        Input::Stdin(bytes) => Some(AttachInput::Stdin(bytes)),
        Input::Resize(size) => Some(AttachInput::Resize {
            width: size.width,
            height: size.height,
        }),
        Input::CloseStdin(true) => Some(AttachInput::CloseStdin),
        // A second start is meaningless; ignore it.
        Input::CloseStdin(false) | Input::Start(_) => None,
    }
}

fn output_of(output: AttachOutput) -> ExecOutput {
    let output = match output {
        AttachOutput::Stdout(bytes) => Output::Stdout(bytes),
        AttachOutput::Stderr(bytes) => Output::Stderr(bytes),
    };
    ExecOutput {
        output: Some(output),
    }
}

/// The first message of an exec or attach stream, which must say what to join.
pub(super) async fn read_start<S>(inbound: &mut S, verb: &str) -> Result<ExecStart, ApiError>
where
    S: futures::Stream<Item = Result<ExecInput, Status>> + Unpin,
{
    match inbound.next().await {
        Some(Ok(ExecInput {
            input: Some(Input::Start(start)),
        })) => Ok(start),
        Some(Err(status)) => Err(ApiError::Caller(status)),
        _ => Err(ApiError::InvalidArgument(format!(
            "{verb}: the first message must name the container (ExecStart)"
        ))),
    }
}

/// Starts one session from the caller's stream.
pub async fn session<S>(
    store: &StatusStore,
    backend: Arc<dyn ExecBackend>,
    mut inbound: S,
) -> Result<ReceiverStream<Result<ExecOutput, Status>>, ApiError>
where
    S: futures::Stream<Item = Result<ExecInput, Status>> + Send + Unpin + 'static,
{
    let start = read_start(&mut inbound, "exec").await?;
    if start.command.is_empty() {
        return Err(ApiError::InvalidArgument(
            "exec: a command is required".into(),
        ));
    }
    let container_id = running_container(store, &start)?;
    let spec = AttachSpec {
        command: start.command.clone(),
        stdin: start.stdin,
        tty: start.tty,
        size: start.size.map(|s| (s.width, s.height)),
    };
    info!(pod = %start.pod, container = %container_id, tty = spec.tty, stdin = spec.stdin, "exec session");

    let (input_tx, input_rx) = mpsc::channel(CHANNEL);
    let (output_tx, mut output_rx) = mpsc::channel(CHANNEL);
    let (grpc_tx, grpc_rx) = mpsc::channel(CHANNEL);
    tokio::spawn(async move {
        while let Some(Ok(message)) = inbound.next().await {
            if let Some(input) = input_of(message) {
                if input_tx.send(input).await.is_err() {
                    return;
                }
            }
        }
        debug!("exec input ended");
    });
    let run = tokio::spawn(async move {
        backend
            .exec_attached(&container_id, spec, input_rx, output_tx)
            .await
    });
    tokio::spawn(async move {
        while let Some(output) = output_rx.recv().await {
            if grpc_tx.send(Ok(output_of(output))).await.is_err() {
                // The caller left: dropping the receiver tells the process to go.
                return;
            }
        }
        let last = match run.await {
            Ok(Ok(code)) => Ok(ExecOutput {
                output: Some(Output::ExitCode(code)),
            }),
            Ok(Err(error)) => {
                warn!(%error, "exec failed");
                Err(ApiError::Exec(error).into())
            }
            Err(join) => Err(ApiError::Internal(format!("exec task failed: {join}")).into()),
        };
        let _ = grpc_tx.send(last).await;
    });
    Ok(ReceiverStream::new(grpc_rx))
}
