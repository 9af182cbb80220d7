//! One module per verb.

mod describe;
mod get;
mod logs;

use anyhow::bail;

use crate::args::{Cli, Command};

/// Where a node agent installed by deploy/quickstart.sh listens.
const DEFAULT_AGENT_SOCKET: &str = "/var/lib/skiff-agent/agent.sock";

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let default_agent = format!("unix://{DEFAULT_AGENT_SOCKET}");
    let agent = match (cli.agent.as_deref(), cli.server.as_deref()) {
        (Some(agent), _) => agent,
        (None, Some(server)) => bail!(
            "cannot reach {server}: this version of skiff has no control plane yet; \
             talk to a node agent with --agent unix://{DEFAULT_AGENT_SOCKET}"
        ),
        (None, None) if std::path::Path::new(DEFAULT_AGENT_SOCKET).exists() => {
            default_agent.as_str()
        }
        (None, None) => bail!(
            "no control plane is available yet in this version of skiff, and no agent listens at \
             {DEFAULT_AGENT_SOCKET}; start one (deploy/quickstart.sh) or pass --agent unix://PATH"
        ),
    };
    match cli.command {
        Command::Get { kind, name, scope, selector, output } => {
            get::run(agent, &kind, name.as_deref(), &scope, selector.as_deref(), output.as_deref()).await
        }
        Command::Describe { kind, name, scope } => describe::run(agent, &kind, &name, &scope).await,
        Command::Logs { pod, container, follow, previous, tail, scope } => {
            logs::run(agent, &pod, container.as_deref(), follow, previous, tail, &scope).await
        }
        other => bail!(
            "{} needs the control plane (--server); a node agent only answers get, describe and logs",
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
