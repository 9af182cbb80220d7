//! Store benchmark: write latency through the REST API at 30 requests/s with the control
//! plane on SQLite and on a real etcd (a private single-member etcd on loopback), in the
//! same run, with GETs at the same rate as each one's floor. Prints figures and ratios;
//! asserts none.
//!
//!     cargo build --release -p skiff-control-plane -p skiff-e2e && target/release/bench_store

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use skiff_control_plane::store::etcd::process::{etcd_binary, EtcdProcess};
use skiff_e2e::bench::{p, report};
use skiff_e2e::cluster::TestControlPlane;

const WRITES: usize = 300;
const RATE: f64 = 30.0;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if etcd_binary().is_none() {
        bail!("etcd not found: apt-get install etcd-server (deploy/install-deps.sh)");
    }
    let scratch = tempfile::tempdir()?;
    let etcd = tokio::task::block_in_place(|| EtcdProcess::start_single(scratch.path()))
        .context("starting etcd")?;
    let store = format!(
        "--store=etcd://{}",
        etcd.client_url().trim_start_matches("http://")
    );

    let sqlite = measure(&[]).await.context("on SQLite")?;
    let on_etcd = measure(&[store.as_str()]).await.context("on etcd")?;

    println!("\nAPI latency at {RATE} requests/s ({WRITES} requests each)");
    report("SQLite: GET of one object (floor)", &sqlite.reads);
    report("SQLite: create of a ConfigMap", &sqlite.writes);
    report("etcd: GET of one object", &on_etcd.reads);
    report("etcd: create of a ConfigMap", &on_etcd.writes);
    let ratio =
        |a: &[Duration], b: &[Duration], pct| p(a, pct).as_secs_f64() / p(b, pct).as_secs_f64();
    println!(
        "  ratio etcd / SQLite, create: p50 {:.2}, p99 {:.2}",
        ratio(&on_etcd.writes, &sqlite.writes, 50),
        ratio(&on_etcd.writes, &sqlite.writes, 99)
    );
    println!(
        "  ratio etcd / SQLite, GET:    p50 {:.2}, p99 {:.2}",
        ratio(&on_etcd.reads, &sqlite.reads, 50),
        ratio(&on_etcd.reads, &sqlite.reads, 99)
    );
    println!(
        "  ratio p99(create) / p99(GET on SQLite): SQLite {:.1}, etcd {:.1}",
        ratio(&sqlite.writes, &sqlite.reads, 99),
        ratio(&on_etcd.writes, &sqlite.reads, 99)
    );
    drop(etcd);
    Ok(())
}

struct Latencies {
    writes: Vec<Duration>,
    reads: Vec<Duration>,
}

/// A control plane with `args`; creates at a steady rate, then GETs at the same rate.
async fn measure(args: &[&str]) -> anyhow::Result<Latencies> {
    let cp = tokio::task::block_in_place(|| TestControlPlane::start_with_args(args))?;
    let (identity, ca) = skiff_e2e::rest::admin_tls(&cp)?;
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .identity(identity)
        .build()?;
    let base = format!("{}/api/v1/namespaces/default/configmaps", cp.url);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / RATE));
    let mut writes = Vec::with_capacity(WRITES);
    for i in 0..WRITES {
        tick.tick().await;
        let body = json!({"metadata": {"name": format!("w-{i}")}, "data": {"i": i.to_string()}});
        let started = Instant::now();
        let response = client.post(&base).json(&body).send().await?;
        let status = response.status();
        let text = response.text().await?;
        writes.push(started.elapsed());
        if !status.is_success() {
            bail!("POST: {status}: {text}");
        }
    }
    let mut reads = Vec::with_capacity(WRITES);
    for _ in 0..WRITES {
        tick.tick().await;
        let started = Instant::now();
        let response = client.get(format!("{base}/w-0")).send().await?;
        let status = response.status();
        let _ = response.bytes().await?;
        reads.push(started.elapsed());
        if !status.is_success() {
            bail!("GET: {status}");
        }
    }
    Ok(Latencies { writes, reads })
}
