//! skiff: the kubectl-like command line.

mod args;
mod client;
mod commands;
mod kinds;
mod output;
mod server;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // One TLS provider even when workspace features enable several (ring, as the agent).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = args::Cli::parse();
    if let Err(error) = commands::run(args).await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
