//! Cluster benchmark: a control plane and one joined agent (the e2e harness), measured
//! the way a user meets them. Prints figures and ratios; asserts none.
//!
//! - `skiff apply` (the CLI process) → the pod seen Running over a REST watch, for one
//!   pod at a time and for 50 pods in one apply, against `ctr run -d` of the same image on
//!   the same containerd in the same run (one at a time, and 50 started together), with
//!   the ratio at p50 and p99 and when the first 10 of the 50 were Running (the agent
//!   paces starts: `SKIFF_PARALLEL_STARTS=N` in the environment sets its width);
//! - API mutation latency (a server-side apply that changes a ConfigMap, through the
//!   kube crate) at 30 requests/s;
//! - resident memory of the control plane and the agent with 100 pods running.
//!
//!     cargo build --release --workspace && target/release/bench_cluster

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use skiff_e2e::agent::find_binary;
use skiff_e2e::bench::{ctr_run_crowd_floor, ctr_run_floor, ms, p, report, rss_mb};
use skiff_e2e::{kube_client, require_root_and_tools, wait_for, ClusterEnv};

const REPEAT: usize = 10;
const CROWD: usize = 50;
const FOOTPRINT_PODS: usize = 100;
const MUTATIONS: usize = 300;
const RATE: f64 = 30.0;
const GOAL_RATIO: f64 = 1.5;
/// A burst of pods should be Running no later than containerd alone starts as many.
const CROWD_GOAL_RATIO: f64 = 1.0;
/// How soon the first pods of the burst run (pacing should make them early).
const FIRST: usize = 10;

/// When each pod was first seen Running, by name, fed by one watch.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if !require_root_and_tools() {
        std::process::exit(1);
    }
    let env = tokio::task::block_in_place(ClusterEnv::start)?;
    let client = kube_client::for_cluster(&env.cp).await?;
    let seen = watch_running(Api::namespaced(client.clone(), "default")).await?;

    // Warm-up (not measured): pulls and unpacks the image once.
    let warm = start_pods(&env, &seen, "warmup", 1)?;
    println!("warm-up pod (includes the pull): {}", ms(warm[0]));
    let mut single = Vec::new();
    for i in 0..REPEAT {
        single.extend(start_pods(&env, &seen, &format!("one{i}"), 1)?);
    }
    let crowd = start_pods(&env, &seen, "crowd", CROWD)?;
    let floor = tokio::task::block_in_place(|| {
        ctr_run_floor(&env.node.containerd, &env.node.registry, REPEAT)
    })?;
    let crowd_floor = tokio::task::block_in_place(|| {
        ctr_run_crowd_floor(&env.node.containerd, &env.node.registry, CROWD)
    })?;

    let mutations = mutation_latency(Api::namespaced(client, "default")).await?;

    let footprint = start_pods(&env, &seen, "many", FOOTPRINT_PODS)?;
    let cp_rss = rss_mb(env.cp.pid().context("control plane pid")?)?;
    let agent_rss = rss_mb(env.node.agent.pid().context("agent pid")?)?;

    println!("\nskiff apply → Running seen over watch ({REPEAT} runs of 1 pod; {CROWD} pods in one apply)");
    report("skiff cluster, 1 pod", &single);
    report(&format!("skiff cluster, {CROWD} pods at once"), &crowd);
    report("ctr run -d (floor)", &floor);
    report(
        &format!("{CROWD} × ctr run -d at once (floor)"),
        &crowd_floor,
    );
    let ratio = p(&single, 50).as_secs_f64() / p(&floor, 50).as_secs_f64();
    println!("  ratio p50(1 pod) / p50(ctr run -d) = {ratio:.2}  (goal ≤ {GOAL_RATIO})");
    println!(
        "  p99 1 pod {} / {CROWD} pods {}  (goal ≤ 1000 ms)",
        ms(p(&single, 99)),
        ms(p(&crowd, 99)),
    );
    let versus = |pct| p(&crowd, pct).as_secs_f64() / p(&crowd_floor, pct).as_secs_f64();
    println!(
        "  {CROWD} pods / {CROWD} × ctr run -d: p50 {:.2}, p99 {:.2}  (goal p99 ≤ {CROWD_GOAL_RATIO})",
        versus(50),
        versus(99)
    );
    println!(
        "  first {FIRST} Running after {} ({CROWD} × ctr run -d: first {FIRST} after {}); \
         starts admitted {} at a time",
        ms(nth(&crowd, FIRST)),
        ms(nth(&crowd_floor, FIRST)),
        std::env::var("SKIFF_PARALLEL_STARTS").unwrap_or_else(|_| "four per core".into())
    );
    println!("\nAPI mutations (server-side apply of a changed ConfigMap) at {RATE} requests/s");
    report("mutation latency", &mutations);
    println!("  (goal p99 ≤ 50 ms)");
    println!(
        "\nresident memory with {} pods running: control plane {cp_rss:.1} MB (goal ≤ 150), agent {agent_rss:.1} MB (goal ≤ 50)",
        footprint.len()
    );
    Ok(())
}

/// The `n`-th smallest sample (1-based): when the first `n` were done.
fn nth(samples: &[Duration], n: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted
        .get(n.saturating_sub(1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// Watches all pods of `default` from the current list (resuming when the server ends
/// the watch, listing again when it expired); notes each pod's first Running.
async fn watch_running(api: Api<Pod>) -> anyhow::Result<Seen> {
    let seen: Seen = Arc::default();
    let mut revision = relist(&api, &seen).await?;
    let out = seen.clone();
    tokio::spawn(async move {
        let params = WatchParams::default();
        loop {
            let Ok(events) = api.watch(&params, &revision).await else {
                return;
            };
            let mut events = events.boxed();
            while let Ok(Some(event)) = events.try_next().await {
                let pod = match event {
                    WatchEvent::Added(pod) | WatchEvent::Modified(pod) => pod,
                    WatchEvent::Bookmark(mark) => {
                        revision = mark.metadata.resource_version;
                        continue;
                    }
                    WatchEvent::Deleted(_) => continue,
                    WatchEvent::Error(_) => match relist(&api, &out).await {
                        Ok(now) => {
                            revision = now;
                            break;
                        }
                        Err(_) => return,
                    },
                };
                revision = pod.metadata.resource_version.clone().unwrap_or_default();
                note_running(&out, pod);
            }
        }
    });
    Ok(seen)
}

/// Notes the Running pods of a fresh list; its revision, to watch from.
async fn relist(api: &Api<Pod>, seen: &Seen) -> anyhow::Result<String> {
    let list = api.list(&ListParams::default()).await?;
    for pod in list.items {
        note_running(seen, pod);
    }
    Ok(list.metadata.resource_version.unwrap_or_default())
}

fn note_running(seen: &Seen, pod: Pod) {
    let at = Instant::now();
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    if let (true, Some(name)) = (running, pod.metadata.name) {
        seen.lock().expect("seen lock").entry(name).or_insert(at);
    }
}

fn pod_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: main\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n"
    )
}

fn skiff(admin: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(find_binary("skiff")?)
        .env("SKIFF_CONFIG", admin)
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!(
            "skiff {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// One `skiff apply` of `count` pods; per pod, the time from the apply's start to the
/// watch seeing it Running. The footprint pods stay; the others are deleted (not timed).
fn start_pods(
    env: &ClusterEnv,
    seen: &Seen,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    tokio::task::block_in_place(|| {
        let admin = env.cp.data().join("admin.conf");
        let names: Vec<String> = (0..count).map(|i| format!("bench-{prefix}-{i}")).collect();
        let manifest: Vec<String> = names.iter().map(|n| pod_yaml(n)).collect();
        let path = env.cp.scratch().join(format!("{prefix}.yaml"));
        std::fs::write(&path, manifest.join("---\n"))?;
        let t0 = Instant::now();
        skiff(&admin, &["apply", "-f", path.to_str().unwrap_or_default()])?;
        let latencies = wait_for(
            "the pods Running",
            Duration::from_secs(300),
            Duration::from_millis(2),
            || {
                let seen = seen.lock().expect("seen lock");
                let times: Vec<Duration> = names
                    .iter()
                    .filter_map(|n| seen.get(n).map(|at| at.duration_since(t0)))
                    .collect();
                if times.len() == count {
                    Ok(times)
                } else {
                    bail!("{} of {count} Running", times.len())
                }
            },
        )?;
        if prefix != "many" {
            skiff(&admin, &["delete", "-f", path.to_str().unwrap_or_default()])?;
            wait_for(
                "the bench pods gone",
                Duration::from_secs(120),
                Duration::from_millis(100),
                || {
                    let left = env.node.containerd.tasks()?.len();
                    anyhow::ensure!(left == 0, "{left} tasks left");
                    Ok(())
                },
            )?;
        }
        Ok(latencies)
    })
}

/// Server-side applies that each change a ConfigMap, sent at [`RATE`] per second on a
/// fixed schedule (a slow answer does not slow the schedule down: requests overlap then).
async fn mutation_latency(api: Api<ConfigMap>) -> anyhow::Result<Vec<Duration>> {
    let interval = Duration::from_secs_f64(1.0 / RATE);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut calls = Vec::new();
    for i in 0..MUTATIONS {
        ticker.tick().await;
        let api = api.clone();
        let name = format!("bench-cm-{}", i % 10);
        let applied = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"n": i.to_string()},
        });
        calls.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let params = PatchParams::apply("bench").force();
            api.patch(&name, &params, &Patch::Apply(applied))
                .await
                .map(|_| t0.elapsed())
        }));
    }
    let mut latencies = Vec::new();
    for call in calls {
        latencies.push(call.await??);
    }
    Ok(latencies)
}
