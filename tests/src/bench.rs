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

/// `ctr run -d` of the registry's busybox, `repeat` times, timed from spawn to exit (ctr
/// returns once the task has started); each container is removed after (not timed).
pub fn ctr_run_floor(
    containerd: &TestContainerd,
    registry: &TestRegistry,
    repeat: usize,
) -> anyhow::Result<Vec<Duration>> {
    let reference = format!("{}/library/busybox:latest", registry.addr());
    containerd.ctr_in(
        FLOOR_NAMESPACE,
        &["images", "pull", "--plain-http", &reference],
    )?;
    let mut times = Vec::new();
    for i in 0..repeat {
        let id = format!("floor-{i}");
        let t0 = Instant::now();
        containerd.ctr_in(
            FLOOR_NAMESPACE,
            &["run", "-d", &reference, &id, "sleep", "3600"],
        )?;
        times.push(t0.elapsed());
        containerd.ctr_in(FLOOR_NAMESPACE, &["tasks", "kill", "-s", "KILL", &id])?;
        containerd.ctr_in(FLOOR_NAMESPACE, &["tasks", "rm", "-f", &id])?;
        containerd.ctr_in(FLOOR_NAMESPACE, &["containers", "rm", &id])?;
    }
    Ok(times)
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
