//! `skiff logs POD [-c C] [-f] [--previous]`

use crate::args::Scope;
use crate::client::{agent, status_error};
use crate::logs;

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
    let req = logs::request(pod, container, follow, previous, tail, scope);
    let stream = client.logs(req).await.map_err(status_error)?.into_inner();
    logs::print(stream, status_error).await
}
