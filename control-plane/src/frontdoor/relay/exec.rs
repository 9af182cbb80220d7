//! REST's pods/exec and pods/attach: the first message names the pod; the rest
//! (stdin, resizes, the close of stdin) goes to the node's Agent.Exec or Agent.Attach as
//! it arrives, and the agent's output (stdout, stderr, then the exit code) comes back the
//! same way. Either side hanging up ends the other's stream, so an abandoned session does
//! not linger on the node.

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use skiff_proto::v1::exec_input::Input;
use skiff_proto::v1::{ExecInput, ExecOutput, ExecStart};
use tracing::debug;

use super::{agent_error, dial, locate};
use crate::core::ControlPlane;
use crate::core::Error;

/// Reads the start message from `inbound`, then relays the session to the pod's agent.
pub async fn exec<S>(
    cp: &ControlPlane,
    inbound: S,
) -> Result<BoxStream<'static, Result<ExecOutput, Error>>, Error>
where
    S: Stream<Item = Result<ExecInput, tonic::Status>> + Send + Unpin + 'static,
{
    relay(cp, inbound, false).await
}

/// As [`exec`], attached to the container's main process (its command is ignored).
pub async fn attach<S>(
    cp: &ControlPlane,
    inbound: S,
) -> Result<BoxStream<'static, Result<ExecOutput, Error>>, Error>
where
    S: Stream<Item = Result<ExecInput, tonic::Status>> + Send + Unpin + 'static,
{
    relay(cp, inbound, true).await
}

async fn relay<S>(
    cp: &ControlPlane,
    mut inbound: S,
    attach: bool,
) -> Result<BoxStream<'static, Result<ExecOutput, Error>>, Error>
where
    S: Stream<Item = Result<ExecInput, tonic::Status>> + Send + Unpin + 'static,
{
    let start = match inbound.next().await {
        Some(Ok(ExecInput {
            input: Some(Input::Start(start)),
        })) => start,
        Some(Err(status)) => {
            return Err(Error::Invalid(format!(
                "exec: reading the request: {}",
                status.message()
            )))
        }
        _ => {
            return Err(Error::Invalid(
                "exec: the first message must say what to run (ExecStart)".into(),
            ))
        }
    };
    if !attach && start.command.is_empty() {
        return Err(Error::Invalid(
            "exec: a command is required (skiff exec POD -- CMD ...)".into(),
        ));
    }
    let target = locate(cp.store.as_ref(), &start.namespace, &start.pod).await?;
    let mut agent = dial(&cp.pki, &target).await?;
    let first = ExecInput {
        input: Some(Input::Start(ExecStart {
            namespace: target.namespace.clone(),
            pod: target.pod.clone(),
            ..start
        })),
    };
    // The client's stream ends the relay at its first error (a dropped connection):
    // what the agent got so far stands, and its end of stdin closes.
    let rest = inbound
        .take_while(|item| futures::future::ready(item.is_ok()))
        .filter_map(|item| futures::future::ready(item.ok()));
    let outbound = futures::stream::iter([first]).chain(rest);
    let stream = if attach {
        agent.attach(outbound).await
    } else {
        agent.exec(outbound).await
    };
    let stream = stream
        .map_err(|status| agent_error(&target, status))?
        .into_inner();
    debug!(node = %target.node, pod = %target.pod, attach, "session opened on the node");
    Ok(stream
        .map(move |item| item.map_err(|status| agent_error(&target, status)))
        .boxed())
}
