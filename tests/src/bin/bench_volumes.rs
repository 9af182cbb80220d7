//! Pod volumes: start latency of a pod mounting five ConfigMap and Secret volumes against
//! the same pod without volumes (interleaved, same run, same joined node), and the
//! agent's RSS with 100 pods each mounting a ConfigMap. Prints figures; asserts none.
//!
//!     cargo build --release --workspace && cargo run --release -p skiff-e2e --bin bench_volumes
//!
//! Latency is `skiff apply` → the container's `/tasks/start` event (`ctr events`), so it
//! includes the API, the scheduler and the watch for both pods alike. `BENCH_PODS` sets
//! the pod count of the RSS figure (default 100).

use std::time::{Duration, Instant};

use anyhow::Context;
use skiff_e2e::bench::{ms, p, report};
use skiff_e2e::pods::pod_uid;
use skiff_e2e::task_events::TaskStarts;
use skiff_e2e::{require_root_and_tools, wait_for, ClusterEnv};

const REPEAT: usize = 10;
const GOAL_RATIO: f64 = 1.2;
const WAIT: Duration = Duration::from_secs(300);

fn main() -> anyhow::Result<()> {
    if !require_root_and_tools() {
        std::process::exit(1);
    }
    let env = ClusterEnv::start()?;
    let mut starts = TaskStarts::start(&env.node.containerd)?;
    let mut objects = String::new();
    for i in 0..3 {
        objects.push_str(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench-cm-{i}\ndata:\n  app.conf: |\n    setting={i}\n  other: value\n---\n"
        ));
    }
    for i in 0..2 {
        objects.push_str(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bench-secret-{i}\ndata:\n  password: aHVudGVyMg==\n---\n"
        ));
    }
    env.cp.apply_yaml("bench-objects.yaml", &objects)?;

    let warm = start_pod(&env, &mut starts, "bench-warmup", false)?;
    println!("warm-up pod (includes the pull): {}", ms(warm));
    let (mut plain, mut with_volumes) = (Vec::new(), Vec::new());
    for i in 0..REPEAT {
        plain.push(start_pod(
            &env,
            &mut starts,
            &format!("bench-plain-{i}"),
            false,
        )?);
        with_volumes.push(start_pod(
            &env,
            &mut starts,
            &format!("bench-vols-{i}"),
            true,
        )?);
    }
    println!("\npod start, skiff apply → task started ({REPEAT} runs each, interleaved)");
    report("no volumes", &plain);
    report("3 ConfigMap + 2 Secret volumes", &with_volumes);
    let ratio = p(&with_volumes, 50).as_secs_f64() / p(&plain, 50).as_secs_f64();
    println!("ratio p50(with volumes) / p50(without) = {ratio:.2}  (goal ≤ {GOAL_RATIO})");

    let count: usize = std::env::var("BENCH_PODS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    rss_with_pods(&env, count)
}

/// Applies one pod and returns the time to its task's start; deletes it after (not timed).
fn start_pod(
    env: &ClusterEnv,
    starts: &mut TaskStarts,
    name: &str,
    volumes: bool,
) -> anyhow::Result<Duration> {
    let path = env.cp.scratch().join(format!("{name}.yaml"));
    std::fs::write(&path, pod(name, volumes))?;
    starts.drain();
    let t0 = Instant::now();
    env.cp
        .skiff(&["apply", "-f", path.to_str().unwrap_or_default()])?;
    let (at, id) = starts
        .next_start(WAIT)
        .context("waiting for the pod's task")?;
    let uid = pod_uid(&env.cp.get_json("pod", name)?).to_string();
    let ids = env
        .node
        .containerd
        .containers_with_label("io.skiff.pod.uid", &uid)?;
    anyhow::ensure!(ids.contains(&id), "a start of another pod: {id}");
    env.cp.skiff(&["delete", "pod", name])?;
    wait_for("the pod removed", WAIT, Duration::from_millis(100), || {
        let left = env.node.containerd.tasks()?.len();
        anyhow::ensure!(left == 0, "{left} tasks left");
        Ok(())
    })?;
    Ok(at.duration_since(t0))
}

fn pod(name: &str, volumes: bool) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n"
    );
    if volumes {
        yaml.push_str("    volumeMounts:\n");
        for i in 0..5 {
            yaml.push_str(&format!("    - {{name: v{i}, mountPath: /v{i}}}\n"));
        }
        yaml.push_str("  volumes:\n");
        for i in 0..3 {
            yaml.push_str(&format!(
                "  - name: v{i}\n    configMap: {{name: bench-cm-{i}}}\n"
            ));
        }
        for i in 0..2 {
            yaml.push_str(&format!(
                "  - name: v{}\n    secret: {{secretName: bench-secret-{i}}}\n",
                i + 3
            ));
        }
    }
    yaml
}

/// The agent's resident memory before and with `count` pods each mounting a ConfigMap.
fn rss_with_pods(env: &ClusterEnv, count: usize) -> anyhow::Result<()> {
    let pid = env.node.agent.pid().context("the agent is not running")?;
    let before = rss_kib(pid)?;
    let mut yaml = String::new();
    for i in 0..count {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bench-rss-{i}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 5; done\"]\n    volumeMounts:\n    - {{name: config, mountPath: /etc/config}}\n  volumes:\n  - name: config\n    configMap: {{name: bench-cm-{}}}\n---\n",
            i % 3
        ));
    }
    let t0 = Instant::now();
    env.cp.apply_yaml("bench-rss.yaml", &yaml)?;
    wait_for(
        &format!("{count} pods running"),
        WAIT * 2,
        Duration::from_secs(1),
        || {
            let running = env.node.containerd.tasks()?.len();
            anyhow::ensure!(running >= count, "{running} tasks running");
            Ok(())
        },
    )?;
    let all_started = t0.elapsed();
    std::thread::sleep(Duration::from_secs(15)); // past a volume resync
    let with = rss_kib(pid)?;
    println!(
        "\nagent RSS (VmRSS), {count} pods each mounting a ConfigMap (all started in {})",
        ms(all_started)
    );
    println!("  before {:>8} KiB", before);
    println!(
        "  with   {:>8} KiB  (+{} KiB, {:.1} KiB per pod)",
        with,
        with.saturating_sub(before),
        with.saturating_sub(before) as f64 / count as f64
    );
    let path = env.cp.scratch().join("bench-rss.yaml");
    env.cp
        .skiff(&["delete", "-f", path.to_str().unwrap_or_default()])?;
    wait_for("the pods removed", WAIT * 2, Duration::from_secs(1), || {
        let left = env.node.containerd.tasks()?.len();
        anyhow::ensure!(left == 0, "{left} tasks left");
        Ok(())
    })?;
    Ok(())
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}
