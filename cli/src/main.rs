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
    let args = args::Cli::parse();
    if let Err(error) = commands::run(args).await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
