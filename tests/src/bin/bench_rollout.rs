//! Rolling update speed: a Deployment of 30 replicas rolled to a new image, from `set
//! image` until 30 ready pods of the new image and nothing else, against the floor of
//! 30 bare pods started at once through the same control plane and node (manifest applied
//! → 30 pods Ready), measured in the same run. Prints figures; asserts none.
//!
//!     cargo build --release --workspace && sudo target/release/bench_rollout
//!
//! Both images are pulled once before anything is timed. Times are taken from the API's
//! watch (the same events a user's `get pods -w` would see).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use skiff_e2e::workloads::{self, PodCensus};
use skiff_e2e::{require_root_and_tools, wait_for, ClusterEnv, TestControlPlane};

const REPLICAS: usize = 30;
const OLD_IMAGE: &str = "nginx:latest";
const NEW_IMAGE: &str = "alicek106/rr-test:echo-hostname";
const WAIT: Duration = Duration::from_secs(600);

fn pods_manifest(prefix: &str, image: &str, count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {prefix}-{i}\n  labels: {{bench: {prefix}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: web\n      image: {image}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn deployment_manifest() -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bench\nspec:\n  replicas: {REPLICAS}\n  selector:\n    matchLabels: {{bench: rollout}}\n  template:\n    metadata:\n      labels: {{bench: rollout}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n        - name: web\n          image: {OLD_IMAGE}\n"
    )
}

/// Applies `manifest` (or runs `action`) and times it until `done` holds for the pods of
/// `selector`, following every watch event.
fn timed(
    runtime: &tokio::runtime::Runtime,
    cp: &TestControlPlane,
    selector: &str,
    action: impl FnOnce() -> anyhow::Result<()>,
    done: impl FnMut(&PodCensus) -> anyhow::Result<bool>,
) -> anyhow::Result<(Duration, PodCensus)> {
    runtime.block_on(async {
        let api = workloads::api(cp).await?;
        let start = workloads::census(&api, selector).await?;
        let t0 = Instant::now();
        action()?;
        let census = workloads::follow(&api, selector, start, WAIT, done).await?;
        Ok((t0.elapsed(), census))
    })
}

fn wait_gone(cp: &TestControlPlane, selector: &str) -> anyhow::Result<()> {
    wait_for("the pods gone", WAIT, Duration::from_millis(500), || {
        let out = cp.skiff(&["get", "pods", "-l", selector, "-o", "name"])?;
        ensure!(out.trim().is_empty(), "left: {out}");
        Ok(())
    })
}

fn main() -> anyhow::Result<()> {
    if !require_root_and_tools() {
        std::process::exit(1);
    }
    let env = ClusterEnv::start()?;
    let cp = &env.cp;
    let runtime = tokio::runtime::Runtime::new()?;

    // Warm-up (not measured): both images pulled and unpacked once.
    let warm = format!(
        "{}---\n{}",
        pods_manifest("warm-a", OLD_IMAGE, 1),
        pods_manifest("warm-b", NEW_IMAGE, 1)
    );
    let (warmup, _) = timed(
        &runtime,
        cp,
        "bench in (warm-a,warm-b)",
        || cp.apply_yaml("warm.yaml", &warm).map(drop),
        |c| Ok(c.total() == 2 && c.ready() == 2),
    )?;
    println!("warm-up, 2 pods with their pulls: {warmup:.2?}");
    cp.skiff(&["delete", "pod", "warm-a-0"])?;
    cp.skiff(&["delete", "pod", "warm-b-0"])?;

    // Floor: 30 bare pods at once.
    let floor_yaml = pods_manifest("floor", OLD_IMAGE, REPLICAS);
    let (floor, _) = timed(
        &runtime,
        cp,
        "bench=floor",
        || cp.apply_yaml("floor.yaml", &floor_yaml).map(drop),
        |c| Ok(c.total() == REPLICAS && c.ready() == REPLICAS),
    )?;
    let names: Vec<String> = (0..REPLICAS).map(|i| format!("floor-{i}")).collect();
    for name in &names {
        cp.skiff(&["delete", "pod", name])?;
    }
    wait_gone(cp, "bench=floor")?;

    // The Deployment's first rollout (printed, for comparison with the floor).
    let (first, _) = timed(
        &runtime,
        cp,
        "bench=rollout",
        || {
            cp.apply_yaml("deploy.yaml", &deployment_manifest())
                .map(drop)
        },
        |c| Ok(c.total() == REPLICAS && c.ready_with_image(OLD_IMAGE) == REPLICAS),
    )?;
    // Settle: the Deployment must see itself complete before the update.
    wait_for(
        "the deployment complete",
        WAIT,
        Duration::from_millis(300),
        || {
            let d = cp.get_json("deploy", "bench")?;
            if d["status"]["availableReplicas"] == REPLICAS
                && d["status"]["updatedReplicas"] == REPLICAS
            {
                Ok(())
            } else {
                bail!("status: {}", d["status"])
            }
        },
    )?;

    // The rolling update.
    let mut largest = 0;
    let mut lowest = usize::MAX;
    let (rollout, census) = timed(
        &runtime,
        cp,
        "bench=rollout",
        || {
            cp.skiff(&["set", "image", "deploy/bench", &format!("web={NEW_IMAGE}")])
                .map(drop)
        },
        |c| {
            largest = largest.max(c.total());
            lowest = lowest.min(c.ready());
            Ok(c.total() == REPLICAS && c.ready_with_image(NEW_IMAGE) == REPLICAS)
        },
    )?;

    println!("\nrolling update of {REPLICAS} replicas (maxSurge 25%, maxUnavailable 25%), vs {REPLICAS} pod starts, same run");
    println!("  {REPLICAS} bare pods applied at once → all Ready (floor): {floor:.2?}");
    println!("  deployment created → {REPLICAS} Ready:                 {first:.2?}");
    println!("  set image → {REPLICAS} Ready of the new image, old gone: {rollout:.2?}");
    println!(
        "    {} watch events, at most {largest} pods, at least {lowest} ready",
        census.events
    );
    println!(
        "  ratio rollout / floor = {:.2}  (each of the ≈4 waves of 25% starts new pods while old ones stop)",
        rollout.as_secs_f64() / floor.as_secs_f64()
    );
    cp.skiff(&["delete", "deploy", "bench"])?;
    wait_gone(cp, "bench=rollout")?;
    Ok(())
}
