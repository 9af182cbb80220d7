//! `skiff logs POD [-c C] [-f] [--previous]`

use std::io::Write;

use skiff_proto::v1::LogsRequest;

use crate::args::Scope;
use crate::client::{agent, status_error};

pub async fn run(
    url: &str,
    pod: &str,
    container: Option<&str>,
    follow: bool,
    previous: bool,
    tail: i64,
    scope: &Scope,
) -> anyhow::Result<()> {
    let mut client = agent(url).await?;
    let req = LogsRequest {
        namespace: scope.namespace.clone(),
        pod: pod.to_string(),
        container: container.unwrap_or_default().to_string(),
        follow,
        previous,
        tail_lines: tail,
    };
    let mut stream = client.logs(req).await.map_err(status_error)?.into_inner();
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = stream.message().await.map_err(status_error)? {
        out.write_all(&chunk.data)?;
        out.flush()?;
    }
    Ok(())
}
