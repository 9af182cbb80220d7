//! `skiff logs POD [-c C] [-f] [--previous] [--since D|--since-time T] [--timestamps]`

use crate::args::{LogFlags, Scope};
use crate::client::{agent, status_error};
use crate::logs;

pub async fn run(url: &str, pod: &str, flags: &LogFlags, scope: &Scope) -> anyhow::Result<()> {
    let mut client = agent(url).await?;
    let req = logs::request(pod, flags, scope)?;
    let stream = client.logs(req).await.map_err(status_error)?.into_inner();
    logs::print(stream, status_error).await
}
