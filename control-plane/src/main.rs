//! skiff-control-plane: for now only its command line (design.md §6); the API server,
//! store, scheduler and controllers come with the control-plane issue.

use anyhow::bail;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "skiff-control-plane",
    version,
    about = "skiff's API server, store, scheduler and controllers"
)]
struct Flags {
    /// Where the store, certificates, admin.conf and node-token live.
    #[arg(long)]
    data_dir: std::path::PathBuf,
    /// Address the API server listens on.
    #[arg(long, default_value = "0.0.0.0:6443")]
    listen: std::net::SocketAddr,
    /// `sqlite` (embedded) or `etcd://HOST:PORT`.
    #[arg(long, default_value = "sqlite")]
    store: String,
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    #[arg(long, default_value = "10.43.0.0/16")]
    service_cidr: String,
    #[arg(long, default_value = "30000-32767")]
    node_port_range: String,
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    tracing::debug!(?flags, "flags parsed");
    bail!("skiff-control-plane is not implemented yet: run skiff-agent standalone with --manifests")
}
