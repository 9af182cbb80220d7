//! Verbs against a node agent's `Agent` service (`--agent unix://PATH`): get, describe,
//! logs and exec of the pods on that node.

mod describe;
mod get;
mod logs;

use anyhow::bail;

use crate::args::Command;

/// Runs one command against a node agent, which serves pods only.
pub async fn run(agent: &str, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Get { kind, names, scope, selector, output } => {
            if names.len() > 1 {
                bail!("a node agent answers one name at a time: get {kind} NAME");
            }
            get::run(agent, &kind, names.first().map(String::as_str), &scope, selector.as_deref(), output.as_deref()).await
        }
        Command::Describe { kind, name, scope } => describe::run(agent, &kind, &name, &scope).await,
        Command::Logs { pod, flags, scope } => logs::run(agent, &pod, &flags, &scope).await,
        Command::Exec { pod, container, stdin, tty, command, scope } => {
            let mut client = crate::client::agent(agent).await?;
            let args = crate::exec::ExecArgs { namespace: scope.namespace, pod, container, stdin, tty, command };
            crate::exec::run(args, |outbound| async move { client.exec(outbound).await }).await
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
        Command::Create { .. } => "create",
        Command::Cordon { .. } => "cordon",
        Command::Uncordon { .. } => "uncordon",
        Command::Taint { .. } => "taint",
        Command::Drain { .. } => "drain",
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
