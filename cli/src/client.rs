//! Connections: a node agent's unix socket (the control plane comes later).

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

/// Turns a gRPC status into the message a user should read.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", status.message())
}
