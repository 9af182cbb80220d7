//! skiff: the kubectl-like command line.

mod agent;
mod args;
mod client;
mod cluster;
mod dispatch;
mod exec;
mod kinds;
mod logs;
mod output;

use clap::Parser;

use client::ApiError;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // One TLS provider even when workspace features enable several (ring, as the agent).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = args::Cli::parse();
    if let Err(error) = dispatch::run(args).await {
        let reported = error.downcast_ref::<client::Reported>().is_some();
        // A server's Status prints as kubectl prints it, without `error: `.
        let status = error
            .downcast_ref::<ApiError>()
            .is_some_and(ApiError::is_status);
        match (reported, status) {
            (true, _) => {}
            (false, true) => eprintln!("{error:#}"),
            (false, false) => eprintln!("error: {error:#}"),
        }
        std::process::exit(1);
    }
}
