//! Connections: the control plane's Kubernetes REST API through admin.conf (`rest.rs`,
//! its errors in `error.rs`), or a node agent's `Agent` gRPC service on its unix socket.

mod error;
mod rest;

pub use error::ApiError;
pub use rest::Cluster;

use anyhow::{bail, Context};
use skiff_proto::v1::agent_client::AgentClient;
use tonic::transport::{Channel, Endpoint};

/// Connects to `unix:///path/to/agent.sock` (or a bare path).
pub async fn agent(url: &str) -> anyhow::Result<AgentClient<Channel>> {
    let path = url.strip_prefix("unix://").unwrap_or(url).to_string();
    if !url.starts_with("unix://") && !url.starts_with('/') {
        bail!("--agent takes unix:///path/to/agent.sock, got {url:?}");
    }
    let target = path.clone();
    let channel = Endpoint::try_from("http://[::]")?
        .connect_with_connector(tower::service_fn(move |_| {
            let path = target.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
        .with_context(|| {
            format!("cannot reach the agent at {path} (is skiff-agent running, and are you root?)")
        })?;
    Ok(AgentClient::new(channel))
}

/// A failure already printed kubectl's way (`Error from server (NotFound): ...`): the
/// command exits 1 without another line.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("already reported")
    }
}

impl std::error::Error for Reported {}

/// Turns an agent's gRPC status into the message a user should read.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    match status.code() {
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
            anyhow::anyhow!("{:?}: {}", status.code(), status.message())
        }
        _ => anyhow::anyhow!("{}", status.message()),
    }
}
