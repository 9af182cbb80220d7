//! Probe footprint: the agent's CPU and memory with 100 httpd pods, each with an httpGet
//! readiness probe every second, against the same 100 pods without probes as the floor,
//! both measured in the same run on the same private containerd. Prints figures and the
//! goals (under 5% of one core, under 50 MB RSS); asserts none.
//!
//!     cargo build --release --workspace && cargo run --release -p skiff-e2e --bin bench_probes
//!
//! CPU is utime+stime of the agent process (all threads) from /proc/<pid>/stat over a 30 s
//! window once every pod is ready; RSS is VmRSS from /proc/<pid>/status at the end of it.
//! The agent is restarted between the phases, so neither inherits the other's heap.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use skiff_e2e::pods::{phase, pod_name};
use skiff_e2e::probing::{container, pod, pod_ready, probe, Handler};
use skiff_e2e::{require_root_and_tools, wait_for, StandaloneEnv};

const PODS: usize = 100;
const WINDOW: Duration = Duration::from_secs(30);
const SETTLE: Duration = Duration::from_secs(5);
const GOAL_CPU_PERCENT: f64 = 5.0;
const GOAL_RSS_MB: f64 = 50.0;

fn main() -> anyhow::Result<()> {
    if !require_root_and_tools() {
        std::process::exit(1);
    }
    let mut env = StandaloneEnv::start_with_args(&["--pod-cidr", "10.42.0.0/24"], |_| Ok(()))?;

    let floor = phase_of(&env, "plain", false)?;
    remove_all(&env, "plain")?;
    env.agent.restart()?;
    let probed = phase_of(&env, "probed", true)?;

    println!("\nagent footprint with {PODS} httpd pods ({WINDOW:?} window, all pods ready)");
    floor.print(&format!("{PODS} pods, no probes (floor)"));
    probed.print(&format!("{PODS} pods, httpGet readiness every 1 s"));
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "goal: agent CPU < {GOAL_CPU_PERCENT}% of one core with probes: {:.2}% ({}); \
         probes cost {:.2} points over the floor",
        probed.cpu_percent,
        verdict(probed.cpu_percent < GOAL_CPU_PERCENT),
        probed.cpu_percent - floor.cpu_percent
    );
    println!(
        "goal: agent RSS < {GOAL_RSS_MB} MB with probes: {:.1} MB ({}); floor {:.1} MB",
        probed.rss_mb,
        verdict(probed.rss_mb < GOAL_RSS_MB),
        floor.rss_mb
    );
    remove_all(&env, "probed")
}

/// What one phase measured.
struct Footprint {
    cpu_percent: f64,
    rss_mb: f64,
    peak_rss_mb: f64,
    containerd_cpu_percent: f64,
    ready_after: Duration,
}

impl Footprint {
    fn print(&self, what: &str) {
        println!(
            "  {what:<42} agent CPU {:>5.2}% of one core, RSS {:>5.1} MB (peak {:.1} MB); \
             containerd CPU {:.2}%; all ready {:.1?} after the manifests were written",
            self.cpu_percent,
            self.rss_mb,
            self.peak_rss_mb,
            self.containerd_cpu_percent,
            self.ready_after
        );
    }
}

/// Starts `PODS` pods named `<prefix>-N`, waits until all are Ready, lets the agent
/// settle, then measures it over [`WINDOW`].
fn phase_of(env: &StandaloneEnv, prefix: &str, probes: bool) -> anyhow::Result<Footprint> {
    let readiness = probe(
        "readinessProbe",
        Handler::Http("/index.html", 80),
        &[("periodSeconds", 1)],
    );
    let fields = if probes { readiness.as_str() } else { "" };
    let t0 = Instant::now();
    for i in 0..PODS {
        let name = format!("{prefix}-{i}");
        let web = container("web", "httpd:latest", None, fields);
        env.agent
            .write_manifest(&name, &pod(&name, "", &[], &[web]))?;
    }
    wait_for(
        &format!("{PODS} {prefix} pods Ready"),
        Duration::from_secs(600),
        Duration::from_secs(1),
        || {
            let pods = env.agent.pods()?;
            let mine = pods.iter().filter(|p| pod_name(p).starts_with(prefix));
            let ready = mine
                .filter(|p| phase(p) == "Running" && pod_ready(p))
                .count();
            if ready < PODS {
                bail!("{ready}/{PODS} ready");
            }
            Ok(())
        },
    )?;
    let ready_after = t0.elapsed();
    println!("{prefix}: all {PODS} pods ready after {ready_after:.1?}; measuring for {WINDOW:?}");
    std::thread::sleep(SETTLE);
    let agent = env.agent.pid().context("agent not running")?;
    let containerd = env.containerd.pid().context("containerd not running")?;
    let (a0, c0, w0) = (cpu_ticks(agent)?, cpu_ticks(containerd)?, Instant::now());
    std::thread::sleep(WINDOW);
    let (a1, c1, wall) = (cpu_ticks(agent)?, cpu_ticks(containerd)?, w0.elapsed());
    let percent = |ticks: u64| ticks as f64 / clock_ticks() / wall.as_secs_f64() * 100.0;
    Ok(Footprint {
        cpu_percent: percent(a1 - a0),
        rss_mb: status_kb(agent, "VmRSS")? / 1024.0,
        peak_rss_mb: status_kb(agent, "VmHWM")? / 1024.0,
        containerd_cpu_percent: percent(c1 - c0),
        ready_after,
    })
}

/// Removes the `<prefix>-N` manifests and waits until no task is left.
fn remove_all(env: &StandaloneEnv, prefix: &str) -> anyhow::Result<()> {
    for i in 0..PODS {
        env.agent.remove_manifest(&format!("{prefix}-{i}"))?;
    }
    wait_for(
        "pods to be removed",
        Duration::from_secs(300),
        Duration::from_secs(1),
        || {
            let left = env.containerd.tasks()?.len();
            anyhow::ensure!(left == 0, "{left} tasks left");
            Ok(())
        },
    )
}

/// utime + stime of a process (all its threads), in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces:
    // state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')').context("odd /proc stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        Ok(fields.get(n - 3).context("short /proc stat")?.parse()?)
    };
    Ok(field(14)? + field(15)?)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> f64 {
    use nix::unistd::{sysconf, SysconfVar};
    sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64
}

/// A `kB` line of /proc/<pid>/status (VmRSS, VmHWM).
fn status_kb(pid: u32, key: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .with_context(|| format!("no {key} in /proc/{pid}/status"))?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}
