//! One module per verb.

pub mod describe;
pub mod exec;
mod get;
mod logs;

use std::path::Path;

use anyhow::{bail, Context};
use skiff_proto::auth::{AdminConfig, AuthError};

use crate::args::{Cli, Command};

/// Where a node agent installed by deploy/quickstart.sh listens.
const DEFAULT_AGENT_SOCKET: &str = "/var/lib/skiff-agent/agent.sock";

/// The control plane through admin.conf; the node agent with `--agent`, or when no
/// admin.conf exists anywhere and the local agent socket does.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(agent) = cli.agent.as_deref() {
        return run_agent(agent, cli.command).await;
    }
    match AdminConfig::discover(cli.config.as_deref()) {
        Ok((path, config)) => {
            let api = crate::client::control_plane(config, &path, cli.server.as_deref()).await?;
            crate::server::run(api, cli.command).await
        }
        Err(e @ AuthError::NoConfig { .. })
            if cli.server.is_none() && Path::new(DEFAULT_AGENT_SOCKET).exists() =>
        {
            let agent = format!("unix://{DEFAULT_AGENT_SOCKET}");
            run_agent(&agent, cli.command)
                .await
                .with_context(|| format!("{e}; fell back to the local node agent"))
        }
        Err(e @ AuthError::NoConfig { .. }) => {
            bail!("{e}; or talk to a node agent with --agent unix://{DEFAULT_AGENT_SOCKET}")
        }
        Err(e) => Err(e.into()),
    }
}

async fn run_agent(agent: &str, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Get { kind, name, scope, selector, output } => {
            get::run(agent, &kind, name.as_deref(), &scope, selector.as_deref(), output.as_deref()).await
        }
        Command::Describe { kind, name, scope } => describe::run(agent, &kind, &name, &scope).await,
        Command::Logs { pod, container, follow, previous, tail, scope } => {
            logs::run(agent, &pod, container.as_deref(), follow, previous, tail, &scope).await
        }
        Command::Exec { pod, container, stdin, tty, command, scope } => {
            let mut client = crate::client::agent(agent).await?;
            let args = exec::ExecArgs { namespace: scope.namespace, pod, container, stdin, tty, command };
            exec::run(args, |outbound| async move { client.exec(outbound).await }).await
        }
        other => bail!(
            "{} needs the control plane (admin.conf); a node agent only answers get, describe, logs and exec",
            verb(&other)
        ),
    }
}

fn verb(c: &Command) -> &'static str {
    match c {
        Command::Apply { .. } => "apply",
        Command::Get { .. } => "get",
        Command::Describe { .. } => "describe",
        Command::Delete { .. } => "delete",
        Command::Logs { .. } => "logs",
        Command::Exec { .. } => "exec",
        Command::Scale { .. } => "scale",
        Command::Set { .. } => "set",
        Command::Rollout { .. } => "rollout",
        Command::Label { .. } => "label",
    }
}

/// `pods`, `pod`, `po` → Some("pods"); the agent serves nothing else.
pub fn require_pods(kind: &str) -> anyhow::Result<()> {
    match kind.to_ascii_lowercase().as_str() {
        "pod" | "pods" | "po" => Ok(()),
        other => bail!(
            "the node agent serves pods only (got {other:?}); other kinds need the control plane"
        ),
    }
}
