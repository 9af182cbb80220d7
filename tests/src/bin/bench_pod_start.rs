//! Pod start latency: static manifest written → container task started, for one pod at a
//! time and for 20 pods at once, against `ctr run -d` of the same image as the floor, all
//! measured in the same run on the same private containerd. Prints figures; asserts none.
//!
//!     cargo build --release --workspace && cargo run --release -p skiff-e2e --bin bench_pod_start
//!
//! Task starts are observed through `ctr events` (`/tasks/start`), timestamped as each line
//! arrives, instead of polling `ctr t ls` (a ctr call alone costs tens of milliseconds).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use skiff_e2e::bench::{ctr_run_floor, ms, p, report};
use skiff_e2e::pods::pod_uid;
use skiff_e2e::task_events::TaskStarts;
use skiff_e2e::{require_root_and_tools, wait_for, StandaloneEnv};

const REPEAT: usize = 10;
const CROWD: usize = 20;
const GOAL_RATIO: f64 = 1.5;

fn main() -> anyhow::Result<()> {
    if !require_root_and_tools() {
        std::process::exit(1);
    }
    let env = StandaloneEnv::start()?;
    let mut events = TaskStarts::start(&env.containerd)?;

    // Warm-up (not measured): pulls and unpacks the image once.
    let warm = run_pods(&env, &mut events, "warmup", 1)?;
    println!("warm-up pod (includes the pull): {}", ms(warm[0]));

    let mut single = Vec::new();
    for i in 0..REPEAT {
        single.extend(run_pods(&env, &mut events, &format!("single{i}"), 1)?);
    }
    let crowd = run_pods(&env, &mut events, "crowd", CROWD)?;
    let floor = ctr_run_floor(&env.containerd, &env.registry, REPEAT)?;

    println!("\npod start latency, manifest written → task started ({REPEAT} runs; {CROWD} pods at once)");
    report("skiff-agent, 1 pod", &single);
    report(&format!("skiff-agent, {CROWD} pods at once"), &crowd);
    report("ctr run -d (floor)", &floor);
    let ratio = p(&single, 50).as_secs_f64() / p(&floor, 50).as_secs_f64();
    println!("ratio p50(skiff 1 pod) / p50(ctr run -d) = {ratio:.2}  (goal ≤ {GOAL_RATIO})");
    Ok(())
}

/// Writes `count` manifests at once and returns, per pod, the time from the first write
/// to its task's start event. Removes the pods afterwards (not timed).
fn run_pods(
    env: &StandaloneEnv,
    events: &mut TaskStarts,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let names: Vec<String> = (0..count).map(|i| format!("bench-{prefix}-{i}")).collect();
    events.drain();
    let t0 = Instant::now();
    for name in &names {
        env.agent.write_manifest(name, &manifest(name))?;
    }
    let mut started: HashMap<String, Instant> = HashMap::new();
    while started.len() < count {
        let (at, id) = events
            .next_start(Duration::from_secs(120))
            .context("waiting for pods to start")?;
        started.insert(id, at);
    }
    let mut latencies = Vec::new();
    for name in &names {
        let pod = env.agent.pod(name)?;
        let ids = env
            .containerd
            .containers_with_label("io.skiff.pod.uid", pod_uid(&pod))?;
        let at = ids
            .iter()
            .find_map(|id| started.get(id))
            .with_context(|| format!("no start event for {name}"))?;
        latencies.push(at.duration_since(t0));
    }
    for name in &names {
        env.agent.remove_manifest(name)?;
    }
    wait_for(
        "bench pods to be removed",
        Duration::from_secs(120),
        Duration::from_millis(100),
        || {
            let left = env.containerd.tasks()?.len();
            anyhow::ensure!(left == 0, "{left} tasks left");
            Ok(())
        },
    )?;
    Ok(latencies)
}

fn manifest(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: main\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n"
    )
}
