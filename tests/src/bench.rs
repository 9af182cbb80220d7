//! What the benchmark binaries share: nearest-rank percentiles, millisecond printing, and
//! the floor every pod-start figure is compared with (`ctr run -d` of the same image on
//! the same containerd, in a namespace of its own so no agent sees it).

use std::time::{Duration, Instant};

use crate::{TestContainerd, TestRegistry};

const FLOOR_NAMESPACE: &str = "bench-floor";

/// Nearest-rank percentile.
pub fn p(samples: &[Duration], pct: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// One line: `what  p50 …  p99 …  (n=…)`.
pub fn report(what: &str, samples: &[Duration]) {
    println!(
        "  {what:<36} p50 {:>9}  p99 {:>9}  (n={})",
        ms(p(samples, 50)),
        ms(p(samples, 99)),
        samples.len()
    );
}

/// The floors' image: the registry's busybox.
fn floor_image(registry: &TestRegistry) -> String {
    format!("{}/library/busybox:latest", registry.addr())
}

/// Starts container `id` of `image` with `ctr run -d` (it returns once the task started).
fn ctr_run(containerd: &TestContainerd, image: &str, id: &str) -> anyhow::Result<()> {
    containerd.ctr_in(FLOOR_NAMESPACE, &["run", "-d", image, id, "sleep", "3600"])?;
    Ok(())
}

/// Kills and removes a floor container.
fn ctr_remove(containerd: &TestContainerd, id: &str) -> anyhow::Result<()> {
    containerd.ctr_in(FLOOR_NAMESPACE, &["tasks", "kill", "-s", "KILL", id])?;
    containerd.ctr_in(FLOOR_NAMESPACE, &["tasks", "rm", "-f", id])?;
    containerd.ctr_in(FLOOR_NAMESPACE, &["containers", "rm", id])?;
    Ok(())
}

/// `ctr run -d` of the registry's busybox, `repeat` times, timed from spawn to exit (ctr
/// returns once the task has started); each container is removed after (not timed).
pub fn ctr_run_floor(
    containerd: &TestContainerd,
    registry: &TestRegistry,
    repeat: usize,
) -> anyhow::Result<Vec<Duration>> {
    let image = floor_image(registry);
    containerd.ctr_in(FLOOR_NAMESPACE, &["images", "pull", "--plain-http", &image])?;
    let mut times = Vec::new();
    for i in 0..repeat {
        let id = format!("floor-{i}");
        let t0 = Instant::now();
        ctr_run(containerd, &image, &id)?;
        times.push(t0.elapsed());
        ctr_remove(containerd, &id)?;
    }
    Ok(times)
}

/// `n` `ctr run -d` of the registry's busybox started together, each timed from the
/// common start to its exit: what this machine's containerd and runc can do for a crowd
/// of containers (no network, no pod), the floor for starting `n` pods at once. The
/// image must be pulled already ([`ctr_run_floor`] does). Containers are removed after.
pub fn ctr_run_crowd_floor(
    containerd: &TestContainerd,
    registry: &TestRegistry,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let image = floor_image(registry);
    let ids: Vec<String> = (0..n).map(|i| format!("crowd-{i}")).collect();
    let t0 = Instant::now();
    let times: Vec<anyhow::Result<Duration>> = std::thread::scope(|scope| {
        let runs: Vec<_> = ids
            .iter()
            .map(|id| {
                let image = &image;
                scope.spawn(move || ctr_run(containerd, image, id).map(|()| t0.elapsed()))
            })
            .collect();
        runs.into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("ctr thread panicked")))
            })
            .collect()
    });
    for id in &ids {
        // Best effort: a container that failed to start has nothing to remove.
        let _ = ctr_remove(containerd, id);
    }
    times.into_iter().collect()
}

/// VmRSS of `pid`, in MB.
pub fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    use anyhow::Context;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    Ok(kb / 1024.0)
}

/// Where `pid`'s resident memory is (`/proc/<pid>/status`, in MB): anonymous (heap,
/// stacks), file-backed (the binary's pages it touched), and the peak resident size.
pub fn rss_parts(pid: u32) -> anyhow::Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mb = |field: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    Ok(format!(
        "anonymous {:.1} MB, file {:.1} MB, peak {:.1} MB",
        mb("RssAnon"),
        mb("RssFile"),
        mb("VmHWM")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(
            (p(&s, 50), p(&s, 99)),
            (Duration::from_millis(5), Duration::from_millis(10))
        );
    }
}
