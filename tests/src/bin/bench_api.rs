//! Kubernetes REST API benchmark: one control plane (no agent), measured as kubectl and
//! controllers meet it. Prints figures and ratios; asserts none.
//!
//! - list of 5,000 pods as JSON and as a `meta.k8s.io/v1` Table (`kubectl get pods`),
//!   against the floor of a GET of one object in the same run;
//! - one change fanned out to 100 concurrent watchers (time from the write's start to
//!   each watcher's line), against one watcher;
//! - write latency at 30 requests/s (ConfigMap creates, each with its managedFields
//!   computed), against GETs at the same rate;
//! - resident memory of the control plane with 5,000 pods and the 100 watchers open,
//!   after a trim period, the median of readings over 10 s, split into anonymous and
//!   file-backed pages.
//!
//! Goals (#16): list as Table ≤ 100 ms, fan-out p99 ≤ 50 ms, RSS ≤ 60 MB.
//!
//!     cargo build --release --workspace && target/release/bench_api

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::{json, Value};
use skiff_e2e::bench::{p, report, rss_mb, rss_parts};
use skiff_e2e::cluster::TestControlPlane;
use tokio::sync::Mutex;

const PODS: usize = 5_000;
const CREATE_CONCURRENCY: usize = 16;
const LIST_RUNS: usize = 10;
const WATCHERS: usize = 100;
const CHANGES: usize = 20;
const WRITES: usize = 300;
const RATE: f64 = 30.0;
const RSS_SAMPLES: usize = 10;
const NAMESPACE: &str = "default";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cp = tokio::task::block_in_place(TestControlPlane::start)?;
    let api = Api::new(&cp)?;

    let started = Instant::now();
    create_pods(&api).await?;
    println!(
        "created {PODS} pods in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        PODS as f64 / started.elapsed().as_secs_f64()
    );

    let one = format!("/api/v1/namespaces/{NAMESPACE}/pods/pod-0");
    let mut floor = Vec::new();
    let mut as_json = Vec::new();
    let mut as_table = Vec::new();
    let mut table_served = false;
    let list = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    for _ in 0..LIST_RUNS {
        floor.push(api.timed_get(&one, "application/json").await?.0);
        let (took, body) = api.timed_get(&list, "application/json").await?;
        let items = body["items"].as_array().map_or(0, Vec::len);
        if items != PODS {
            bail!("the list had {items} pods, not {PODS}");
        }
        as_json.push(took);
        let (took, body) = api.timed_get(&list, TABLE).await?;
        table_served = body["kind"] == "Table";
        as_table.push(took);
    }

    let (fan_out, single, watchers) = fan_out(&api).await?;
    let (writes, reads) = write_latency(&api).await?;
    // With the 100 watchers still open; after a trim period, so what is measured is what
    // the control plane holds, not a burst's leftovers (docs/architecture.md, What costs
    // what).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let pid = cp.pid().context("control plane pid")?;
    // Sampled for a while: one reading lands before or after a trim or a scheduler pass
    // by chance, so runs of the same build differed by 10 MB.
    let mut samples = Vec::new();
    for _ in 0..RSS_SAMPLES {
        samples.push(rss_mb(pid)?);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    samples.sort_by(f64::total_cmp);
    let rss = samples[samples.len() / 2];
    let (low, high) = (samples[0], samples[samples.len() - 1]);
    let parts = rss_parts(pid)?;
    for task in watchers {
        task.abort();
    }

    println!("\nlist of {PODS} pods ({LIST_RUNS} runs)");
    report("GET one pod (floor)", &floor);
    report("list as JSON", &as_json);
    report(
        if table_served {
            "list as Table"
        } else {
            "list as Table (served as JSON: no Table yet)"
        },
        &as_table,
    );
    let floor50 = p(&floor, 50).as_secs_f64();
    println!(
        "  ratios to the floor (p50): JSON {:.1}, Table {:.1}   (goal: Table ≤ 100 ms)",
        p(&as_json, 50).as_secs_f64() / floor50,
        p(&as_table, 50).as_secs_f64() / floor50
    );
    println!("\none change fanned out to watchers ({CHANGES} changes)");
    report("1 watcher (floor)", &single);
    report(&format!("{WATCHERS} watchers"), &fan_out);
    println!(
        "  ratio p99({WATCHERS}) / p99(1) = {:.1}   (goal: p99 ≤ 50 ms)",
        p(&fan_out, 99).as_secs_f64() / p(&single, 99).as_secs_f64()
    );
    println!("\nAPI latency at {RATE} requests/s ({WRITES} requests each)");
    report("GET of one object (floor)", &reads);
    report("create of a ConfigMap", &writes);
    println!(
        "  ratio p99(write) / p99(read) = {:.1}",
        p(&writes, 99).as_secs_f64() / p(&reads, 99).as_secs_f64()
    );
    println!("\ncontrol plane RSS with {PODS} pods and {WATCHERS} watchers: {rss:.1} MB   (goal ≤ 60 MB)");
    println!("  median of {RSS_SAMPLES} readings a second apart (lowest {low:.1}, highest {high:.1} MB); at the last: {parts}");
    Ok(())
}

/// An HTTPS client holding the admin certificate.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(cp: &TestControlPlane) -> anyhow::Result<Api> {
        let (identity, ca) = skiff_e2e::rest::admin_tls(cp)?;
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .identity(identity)
            .pool_max_idle_per_host(WATCHERS * 2)
            .build()?;
        Ok(Api {
            client,
            base: cp.url.clone(),
        })
    }

    async fn timed_get(&self, path: &str, accept: &str) -> anyhow::Result<(Duration, Value)> {
        let started = Instant::now();
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("accept", accept)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok((took, serde_json::from_slice(&bytes)?))
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        Ok(started.elapsed())
    }
}

async fn create_pods(api: &Api) -> anyhow::Result<()> {
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let results: Vec<anyhow::Result<Duration>> = futures::stream::iter(0..PODS)
        .map(|i| {
            let (api, path) = (api.clone(), path.clone());
            async move {
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("pod-{i}"), "labels": {"app": "bench", "n": i.to_string()}},
                    "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
                });
                api.post(&path, &pod).await
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect()
        .await;
    for result in results {
        result?;
    }
    Ok(())
}

/// `CHANGES` writes to one ConfigMap, each seen by `watchers` open watches; returns every
/// watcher's delay for every change, for `WATCHERS` and for one watcher, and the
/// `WATCHERS` watches, left open.
async fn fan_out(api: &Api) -> anyhow::Result<(Vec<Duration>, Vec<Duration>, Vec<Watcher>)> {
    let (many, watchers) = fan_out_with(api, WATCHERS, "fan-many").await?;
    let (one, single) = fan_out_with(api, 1, "fan-one").await?;
    for task in single {
        task.abort();
    }
    Ok((many, one, watchers))
}

/// An open watch, read to its end.
type Watcher = tokio::task::JoinHandle<()>;

async fn fan_out_with(
    api: &Api,
    watchers: usize,
    name: &str,
) -> anyhow::Result<(Vec<Duration>, Vec<Watcher>)> {
    let base = format!("/api/v1/namespaces/{NAMESPACE}/configmaps");
    api.post(
        &base,
        &json!({"metadata": {"name": name}, "data": {"n": "0"}}),
    )
    .await?;
    let (_, list) = api.timed_get(&base, "application/json").await?;
    let from = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let url = format!(
            "{}{base}?watch=1&fieldSelector=metadata.name={name}&resourceVersion={from}",
            api.base
        );
        let response = api.client.get(url).send().await?;
        if !response.status().is_success() {
            bail!("watch: {}", response.status());
        }
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = response.bytes_stream();
            while let Some(Ok(chunk)) = stream.next().await {
                let now = Instant::now();
                for _ in chunk.iter().filter(|b| **b == b'\n') {
                    seen.lock().await.push(now);
                }
            }
        }));
    }
    let mut delays = Vec::new();
    for n in 1..=CHANGES {
        seen.lock().await.clear();
        let started = Instant::now();
        let body = json!({"metadata": {"name": name}, "data": {"n": n.to_string()}});
        let response = api
            .client
            .put(format!("{}{base}/{name}", api.base))
            .json(&body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("PUT: {}", response.status());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let count = seen.lock().await.len();
            if count >= watchers {
                break;
            }
            if Instant::now() > deadline {
                bail!("only {count} of {watchers} watchers saw change {n}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        delays.extend(seen.lock().await.iter().map(|t| *t - started));
    }
    Ok((delays, tasks))
}

/// Creates at a steady rate, then GETs of one object at the same rate.
async fn write_latency(api: &Api) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let base = format!("/api/v1/namespaces/{NAMESPACE}/configmaps");
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / RATE));
    let mut writes = Vec::with_capacity(WRITES);
    for i in 0..WRITES {
        tick.tick().await;
        writes.push(
            api.post(
                &base,
                &json!({"metadata": {"name": format!("w-{i}")}, "data": {"i": i.to_string()}}),
            )
            .await?,
        );
    }
    let mut reads = Vec::with_capacity(WRITES);
    for _ in 0..WRITES {
        tick.tick().await;
        reads.push(
            api.timed_get(&format!("{base}/w-0"), "application/json")
                .await?
                .0,
        );
    }
    Ok((writes, reads))
}
