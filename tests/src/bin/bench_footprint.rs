//! Node footprint: what one joined node costs in memory, idle, with 20 and with 100
//! busybox pods Running: the agent's RSS and PSS (and where its pages are), containerd's
//! and the shims' PSS, the control plane's RSS; then the shims of 20 two-container pods
//! against those of 20 one-container pods. Printed beside the reference figures
//! (k3s, krab, skiff's own starting point) and its goals; asserts none.
//!
//!     cargo build --release -p skiff-agent -p skiff-control-plane -p skiff \
//!         -p skiff-e2e --bin bench_footprint && sudo target/release/bench_footprint
//!
//! Each figure is read after the pods are Running and the node has been quiet for
//! [`SETTLE`] (the agent trims freed memory every few seconds); then what the agent
//! touches in the next [`WORKING_SET_WINDOW`] (its working set) is read too. PSS comes from
//! /proc/PID/smaps_rollup; the shims' is summed over every shim of the test's containerd.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use skiff_e2e::footprint::{breakdown, memory, memory_of_all, working_set, Breakdown, Memory};
use skiff_e2e::{require_root_and_tools, wait_for, ClusterEnv};

const SETTLE: Duration = Duration::from_secs(15);
/// How long the agent's touched pages are watched, after the other figures are read.
const WORKING_SET_WINDOW: Duration = Duration::from_secs(10);

/// Goals of issue 18 for the agent's RSS, MB: idle, 20 pods, 100 pods.
const GOALS_MB: [f64; 3] = [10.0, 15.0, 25.0];
/// The measured start (agent RSS, MB): idle, 20 pods, 100 pods.
const START_MB: [f64; 3] = [18.8, 36.7, 46.9];

/// One measurement of the node.
struct Sample {
    pods: usize,
    agent: Memory,
    agent_parts: Breakdown,
    /// What the agent touched in [`WORKING_SET_WINDOW`] after the figures were read.
    agent_touched: Breakdown,
    containerd: Memory,
    shims: Memory,
    shim_count: usize,
    control_plane: Memory,
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if !require_root_and_tools() {
        std::process::exit(1);
    }
    let env = ClusterEnv::start()?;

    // Warm-up (not measured): pulls and unpacks busybox once, then goes away.
    apply_pods(&env, "warmup", 0..1, 1)?;
    delete_all(&env, "warmup", 0..1)?;

    std::thread::sleep(SETTLE);
    let idle = sample(&env, 0)?;
    apply_pods(&env, "bench", 0..20, 1)?;
    std::thread::sleep(SETTLE);
    let twenty = sample(&env, 20)?;
    apply_pods(&env, "bench", 20..100, 1)?;
    std::thread::sleep(SETTLE);
    let hundred = sample(&env, 100)?;
    delete_all(&env, "bench", 0..100)?;
    apply_pods(&env, "pair", 0..20, 2)?;
    std::thread::sleep(SETTLE);
    let pairs = sample(&env, 20)?;
    delete_all(&env, "pair", 0..20)?;

    print_report(&[idle, twenty, hundred], &pairs);
    Ok(())
}

fn sample(env: &ClusterEnv, pods: usize) -> anyhow::Result<Sample> {
    let agent = env.node.agent.pid().context("agent not running")?;
    let containerd = env
        .node
        .containerd
        .pid()
        .context("containerd not running")?;
    let shims = env.node.containerd.shim_pids();
    let mut sample = Sample {
        pods,
        agent: memory(agent)?,
        agent_parts: breakdown(agent)?,
        agent_touched: Breakdown::default(),
        containerd: memory(containerd)?,
        shims: memory_of_all(&shims),
        shim_count: shims.len(),
        control_plane: memory(env.cp.pid().context("control plane not running")?)?,
    };
    sample.agent_touched = working_set(agent, WORKING_SET_WINDOW)?;
    Ok(sample)
}

fn print_report(samples: &[Sample], pairs: &Sample) {
    println!("\nnode footprint, one joined node, busybox pods Running (MB)");
    println!(
        "  {:<10} {:>9} {:>9} {:>12} {:>14} {:>12} {:>9} {:>9}",
        "pods",
        "agent RSS",
        "agent PSS",
        "goal (RSS)",
        "issue's start",
        "containerd",
        "shims",
        "cp RSS"
    );
    for (i, s) in samples.iter().enumerate() {
        println!(
            "  {:<10} {:>9.1} {:>9.1} {:>12} {:>14.1} {:>8.1} PSS {:>5.1} PSS {:>9.1}   ({} shims)",
            s.pods,
            s.agent.rss_mb(),
            s.agent.pss_mb(),
            format!(
                "≤ {:.0} {}",
                GOALS_MB[i],
                verdict(s.agent.rss_mb() <= GOALS_MB[i])
            ),
            START_MB[i],
            s.containerd.pss_mb(),
            s.shims.pss_mb(),
            s.control_plane.rss_mb(),
            s.shim_count
        );
    }
    println!("  published, 20 pods: k3s (kubelet + kube-proxy + flannel) 61 MB idle / 73 MB; krab 5–6 MB idle / 7–9 MB");
    if let [idle, twenty, hundred] = samples {
        let per_pod = |a: &Sample, b: &Sample| {
            (b.agent.rss_kb as f64 - a.agent.rss_kb as f64) / (b.pods - a.pods) as f64
        };
        println!(
            "  agent per pod: {:.0} kB (0 → 20), {:.0} kB (20 → 100); vs idle: ×{:.2} at 20, ×{:.2} at 100",
            per_pod(idle, twenty),
            per_pod(twenty, hundred),
            twenty.agent.rss_kb as f64 / idle.agent.rss_kb as f64,
            hundred.agent.rss_kb as f64 / idle.agent.rss_kb as f64,
        );
    }
    println!("\nwhere the agent's resident pages are (MB, from /proc/PID/smaps)");
    println!(
        "  {:<10} {:>8} {:>10} {:>14} {:>16} {:>8} {:>8} {:>9}",
        "pods",
        "binary",
        "brk heap",
        "other arenas",
        "stacks + large",
        "arenas",
        "threads",
        "anon PSS"
    );
    for s in samples {
        let b = &s.agent_parts;
        let mb = |kb: u64| kb as f64 / 1024.0;
        println!(
            "  {:<10} {:>8.1} {:>10.1} {:>14.1} {:>16.1} {:>8} {:>8} {:>9.1}",
            s.pods,
            mb(b.file_kb),
            mb(b.main_arena_kb),
            mb(b.other_arenas_kb),
            mb(b.stacks_and_large_kb),
            b.arenas,
            b.threads,
            mb(s.agent.pss_anon_kb)
        );
    }
    println!(
        "\nwhat the agent touched in {} s after that (MB; its pages' referenced marks cleared first: the rest of the RSS is resident but idle, what the kernel reclaims first when memory is short)",
        WORKING_SET_WINDOW.as_secs()
    );
    println!(
        "  {:<10} {:>16} {:>16} {:>10}",
        "pods", "files (binary)", "anonymous", "together"
    );
    for s in samples {
        let t = &s.agent_touched;
        let mb = |kb: u64| kb as f64 / 1024.0;
        println!(
            "  {:<10} {:>16.1} {:>16.1} {:>10.1}",
            s.pods,
            mb(t.file_referenced_kb),
            mb(t.anon_referenced_kb),
            mb(t.file_referenced_kb + t.anon_referenced_kb)
        );
    }
    if let Some(one) = samples.get(1) {
        println!(
            "\nshims: 20 one-container pods {:.1} MB PSS ({} shims), 20 two-container pods {:.1} MB PSS ({} shims): ratio {:.2} (goal ≤ 1.00)",
            one.shims.pss_mb(),
            one.shim_count,
            pairs.shims.pss_mb(),
            pairs.shim_count,
            pairs.shims.pss_kb as f64 / one.shims.pss_kb.max(1) as f64
        );
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// A busybox pod with `containers` containers that sleep until told to stop.
fn pod_yaml(name: &str, containers: usize) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n"
    );
    for c in 0..containers {
        yaml.push_str(&format!(
            "  - name: c{c}\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 5; done\"]\n"
        ));
    }
    yaml
}

/// Applies pods `<prefix>-N` for N in `range` in one `skiff apply`; waits until all are
/// Running.
fn apply_pods(
    env: &ClusterEnv,
    prefix: &str,
    range: std::ops::Range<usize>,
    containers: usize,
) -> anyhow::Result<()> {
    let names: Vec<String> = range.map(|i| format!("{prefix}-{i}")).collect();
    let docs: Vec<String> = names.iter().map(|n| pod_yaml(n, containers)).collect();
    let t0 = Instant::now();
    env.cp.apply_yaml(
        &format!("{prefix}-{}.yaml", names.len()),
        &docs.join("---\n"),
    )?;
    wait_for(
        &format!("{} {prefix} pods Running", names.len()),
        Duration::from_secs(600),
        Duration::from_secs(1),
        || {
            let running = running_pods(env, prefix)?;
            if running < names.len() {
                bail!("{running}/{} Running", names.len());
            }
            Ok(())
        },
    )?;
    println!(
        "{} {prefix} pods Running after {:.1?}",
        names.len(),
        t0.elapsed()
    );
    Ok(())
}

/// How many pods named `<prefix>-…` are Running (of those the API lists in `default`).
fn running_pods(env: &ClusterEnv, prefix: &str) -> anyhow::Result<usize> {
    let list: serde_json::Value =
        serde_json::from_str(&env.cp.skiff(&["get", "pods", "-o", "json"])?)?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok(items
        .iter()
        .filter(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("{prefix}-")))
                && p["status"]["phase"] == "Running"
        })
        .count())
}

/// Deletes pods `<prefix>-N` and waits until containerd has no task left.
fn delete_all(env: &ClusterEnv, prefix: &str, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    let docs: Vec<String> = range
        .map(|i| format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {prefix}-{i}\n"))
        .collect();
    let path = env.cp.scratch().join(format!("delete-{prefix}.yaml"));
    std::fs::write(&path, docs.join("---\n"))?;
    env.cp
        .skiff(&["delete", "-f", path.to_str().unwrap_or_default()])?;
    wait_for(
        "the pods' tasks gone",
        Duration::from_secs(300),
        Duration::from_secs(1),
        || {
            let left = env.node.containerd.tasks()?.len();
            anyhow::ensure!(left == 0, "{left} tasks left");
            Ok(())
        },
    )
}
