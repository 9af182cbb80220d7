//! What `skiff logs` shares whether the control plane or a node's agent serves the logs:
//! the request and the copy of the stream to stdout.

use std::io::Write;

use skiff_proto::v1::{LogChunk, LogsRequest};

use crate::args::Scope;

pub fn request(
    pod: &str,
    container: Option<&str>,
    follow: bool,
    previous: bool,
    tail: i64,
    scope: &Scope,
) -> LogsRequest {
    LogsRequest {
        namespace: scope.namespace.clone(),
        pod: pod.to_string(),
        container: container.unwrap_or_default().to_string(),
        follow,
        previous,
        tail_lines: tail,
        ..Default::default()
    }
}

/// Writes every chunk as it arrives (`-f` shows lines live); `error` words a failed stream.
pub async fn print(
    mut stream: tonic::Streaming<LogChunk>,
    error: fn(tonic::Status) -> anyhow::Error,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = stream.message().await.map_err(error)? {
        out.write_all(&chunk.data)?;
        out.flush()?;
    }
    Ok(())
}
