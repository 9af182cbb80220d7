//! Which front door a command goes to: the control plane through admin.conf, or a node
//! agent's socket.

use std::path::Path;

use anyhow::{bail, Context};
use skiff_proto::auth::{AdminConfig, AuthError};

use crate::args::{Cli, Command};

/// Where a node agent installed by deploy/quickstart.sh listens.
const DEFAULT_AGENT_SOCKET: &str = "/var/lib/skiff-agent/agent.sock";

/// The control plane through admin.conf; the node agent with `--agent`, or when no
/// admin.conf exists anywhere and the local agent socket does.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // `create ... --dry-run=client` prints what it would send and needs no cluster.
    if let Command::Create { what } = &cli.command {
        if !what.reads_cluster() {
            let built = crate::cluster::create::build(what.clone())?;
            if built.is_client_dry_run() {
                return built.print_dry_run();
            }
        }
    }
    if let Some(agent) = cli.agent.as_deref() {
        return crate::agent::run(agent, cli.command).await;
    }
    match AdminConfig::discover(cli.config.as_deref()) {
        Ok((path, config)) => {
            let api = crate::client::Cluster::connect(config, &path, cli.server.as_deref()).await?;
            crate::cluster::run(api, cli.command).await
        }
        Err(e @ AuthError::NoConfig { .. })
            if cli.server.is_none() && Path::new(DEFAULT_AGENT_SOCKET).exists() =>
        {
            let agent = format!("unix://{DEFAULT_AGENT_SOCKET}");
            crate::agent::run(&agent, cli.command)
                .await
                .with_context(|| format!("{e}; fell back to the local node agent"))
        }
        Err(e @ AuthError::NoConfig { .. }) => {
            bail!("{e}; or talk to a node agent with --agent unix://{DEFAULT_AGENT_SOCKET}")
        }
        Err(e) => Err(e.into()),
    }
}
