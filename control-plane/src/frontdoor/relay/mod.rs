//! Logs, exec and port-forward through the control plane (docs/architecture.md, The
//! wire): REST's pods/log, exec, attach and portforward find the pod's node
//! and relay the stream to that node's `Agent` service, on its InternalIP at port 10250,
//! over TLS with the control plane's own client certificate (the only identity an agent
//! answers).
//!
//! | what                     | file        |
//! |--------------------------|-------------|
//! | pod → node → address     | `target.rs` |
//! | pods/log → Agent.Logs    | `logs.rs`   |
//! | pods/exec ↔ Agent.Exec, pods/attach ↔ Agent.Attach | `exec.rs` |
//! | one forwarded connection ↔ Agent.PortForward | `portforward.rs` |
//!
//! Errors say what the user can act on: the pod is not scheduled yet, the node is
//! unreachable, the container is unknown (the agent's message, passed through).

mod exec;
mod logs;
mod portforward;
mod target;

#[cfg(test)]
mod tests;

pub use exec::{attach, exec};
pub use logs::logs;
pub use portforward::{FromPod, FromPodStream, PodPorts, PortOpener, ToPod};
pub use target::{agent_pod_name, locate, AgentTarget, AGENT_PORT};

use std::time::Duration;

use skiff_proto::v1::agent_client::AgentClient;
use tonic::transport::{Channel, Endpoint};

use crate::core::Error;
use crate::pki::Pki;

/// How long dialing an agent may take before the node counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the agent of `target` with the control plane's client certificate.
pub async fn dial(pki: &Pki, target: &AgentTarget) -> Result<AgentClient<Channel>, Error> {
    let url = format!("https://{}", target.socket_addr());
    let unreachable = |reason: String| {
        Error::Unavailable(format!(
            "node {} ({}) is unreachable: {reason}",
            target.node,
            target.socket_addr()
        ))
    };
    let endpoint = Endpoint::from_shared(url)
        .map_err(|e| unreachable(e.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tls_config(pki.agent_client_tls(&target.address.to_string()))
        .map_err(|e| unreachable(e.to_string()))?;
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    Ok(AgentClient::new(channel))
}

/// An agent's answer as the API's error: its code and message kept (the agent's messages
/// are already meant for users: "container x is not valid for pod y, choose one of ..."),
/// except that a broken connection names the node.
pub fn agent_error(target: &AgentTarget, status: tonic::Status) -> Error {
    use tonic::Code;
    let message = status.message().to_string();
    match status.code() {
        Code::NotFound => Error::NotFound(message),
        Code::InvalidArgument => Error::Invalid(message),
        Code::FailedPrecondition => Error::FailedPrecondition(message),
        Code::Unimplemented => Error::Unimplemented(format!(
            "the agent of node {} does not support this: {message}",
            target.node
        )),
        Code::Unauthenticated | Code::PermissionDenied => Error::Internal(format!(
            "node {} refused the control plane's certificate: {message}",
            target.node
        )),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded => {
            Error::Unavailable(format!(
                "node {} ({}) is unreachable: {message}",
                target.node,
                target.socket_addr()
            ))
        }
        _ => Error::Internal(format!("node {}: {message}", target.node)),
    }
}

/// `e` and its sources in one line: tonic's transport errors hide the cause otherwise.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
