//! Connections: the control plane through admin.conf, or a node agent's unix socket.

use anyhow::{bail, Context};
use skiff_proto::auth::AdminConfig;
use skiff_proto::v1::agent_client::AgentClient;
use skiff_proto::v1::api_client::ApiClient;
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

/// Turns a gRPC status into the message a user should read.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    match status.code() {
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
            anyhow::anyhow!("{:?}: {}", status.code(), status.message())
        }
        _ => anyhow::anyhow!("{}", status.message()),
    }
}

/// An admin client for the control plane: admin.conf from `config` (or the usual places),
/// with its server replaced by `server` when given.
pub async fn control_plane(
    config: AdminConfig,
    path: &std::path::Path,
    server: Option<&str>,
) -> anyhow::Result<ApiClient<Channel>> {
    let mut config = config;
    if let Some(server) = server {
        config.server = server.to_string();
    }
    let channel = config.channel().await.with_context(|| {
        format!(
            "cannot reach the control plane at {} (credentials from {})",
            config.server,
            path.display()
        )
    })?;
    Ok(ApiClient::new(channel))
}
