//! Pod network set-up and teardown per pod, through the agent's own `PodNetwork` (veth
//! straight into the pod's namespace with rtnetlink, IPAM fsync'd on disk), against the
//! same steps done with `ip` commands in the same run as the floor. Prints figures;
//! asserts none.
//!
//!     cargo build --release --workspace && cargo run --release -p skiff-e2e --bin bench_pod_network
//!
//! Everything lives on a bench bridge, CIDR, nft table and namespaces of its own (never
//! `skiff0` or the `skiff` table), removed at the end, also after a failure, and first
//! thing at start in case an earlier run was killed. No packet is sent.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use skiff_agent::network::{NetworkConfig, PodNetwork};
use skiff_e2e::process;
use skiff_e2e::require_root_and_tools;

const N: usize = 100;
const BRIDGE: &str = "skbench0";
const TABLE: &str = "skiff_bench";
const CIDR: &str = "10.97.0.0/24";
const GATEWAY: &str = "10.97.0.1";
const NS_PREFIX: &str = "skbench-";
/// Host-side veth names of the floor; not `sk` + hex, so no agent ever takes them for its own.
const FLOOR_PREFIX: &str = "bnf";
const WARMUP: usize = 5;
const GOAL_SETUP_P99: Duration = Duration::from_millis(10);

fn main() -> anyhow::Result<()> {
    if !require_root_and_tools() {
        std::process::exit(1);
    }
    let _serial = skiff_e2e::serial();
    let bench = Bench::new()?;
    let rt = tokio::runtime::Runtime::new()?;
    let mut cfg = NetworkConfig::new(CIDR.parse()?, bench.state.path().join("network"));
    cfg.bridge = BRIDGE.into();
    cfg.nft_table = TABLE.into();
    let net = rt
        .block_on(PodNetwork::init(cfg))
        .context("PodNetwork::init")?;
    println!(
        "{N} pods, bridge {BRIDGE}, {CIDR}, IPAM in {} (fsync'd)",
        bench.state.path().display()
    );

    // Warm-up (not measured): first netlink sockets, first IPAM files.
    for i in 0..WARMUP {
        rt.block_on(net.setup(&uid(i), &bench.netns[i]))?;
        rt.block_on(net.teardown(&uid(i)))?;
    }

    let (mut setup, mut teardown) = (Vec::new(), Vec::new());
    for (i, ns) in bench.netns.iter().enumerate() {
        let t = Instant::now();
        rt.block_on(net.setup(&uid(i), ns))
            .with_context(|| format!("setup of pod {i}"))?;
        setup.push(t.elapsed());
    }
    for i in 0..N {
        let t = Instant::now();
        rt.block_on(net.teardown(&uid(i)))
            .with_context(|| format!("teardown of pod {i}"))?;
        teardown.push(t.elapsed());
    }

    let (mut crowd, crowd_wall) = rt.block_on(all_at_once(&net, &bench.netns))?;
    for i in 0..N {
        rt.block_on(net.teardown(&uid(i)))?;
    }

    let (mut floor_setup, mut floor_teardown) = (Vec::new(), Vec::new());
    for i in 0..N {
        let t = Instant::now();
        floor_up(i)?;
        floor_setup.push(t.elapsed());
    }
    for i in 0..N {
        let t = Instant::now();
        run(&["ip", "link", "del", &floor_link(i)])?;
        floor_teardown.push(t.elapsed());
    }

    let mut fsync = fsync_floor(bench.state.path())?;

    println!("\nper pod, one at a time ({N} pods):");
    report("skiff set-up (PodNetwork::setup)", &mut setup);
    report("ip commands set-up (floor)", &mut floor_setup);
    report("skiff teardown (PodNetwork::teardown)", &mut teardown);
    report("ip link del (floor)", &mut floor_teardown);
    report("create + fsync file and dir (IPAM floor)", &mut fsync);
    println!(
        "\n{N} set-ups at once: {:.1} ms in all",
        crowd_wall.as_secs_f64() * 1e3
    );
    report("skiff set-up, each of them", &mut crowd);
    println!();
    ratio("set-up", &setup, &floor_setup);
    ratio("teardown", &teardown, &floor_teardown);
    let p99 = pct(&setup, 99);
    let verdict = if p99 <= GOAL_SETUP_P99 {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "goal: set-up p99 ≤ {} ms — measured {} ({verdict})",
        GOAL_SETUP_P99.as_millis(),
        ms(p99)
    );
    Ok(())
}

fn uid(i: usize) -> String {
    format!("bench-pod-{i}")
}

fn floor_link(i: usize) -> String {
    format!("{FLOOR_PREFIX}{i}")
}

/// The floor: what a minimal shell script does for one pod.
fn floor_up(i: usize) -> anyhow::Result<()> {
    let (host, ns) = (floor_link(i), format!("{NS_PREFIX}{i}"));
    let addr = format!("10.97.0.{}/24", i + 2);
    run(&[
        "ip", "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ])?;
    run(&["ip", "link", "set", &host, "master", BRIDGE, "up"])?;
    run(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
    run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
    run(&["ip", "-n", &ns, "route", "add", "default", "via", GATEWAY])
}

/// What a crash-safe claim costs on this disk at least: create a file, write, fsync it
/// and its directory, in the IPAM's own filesystem.
fn fsync_floor(dir: &Path) -> anyhow::Result<Vec<Duration>> {
    use std::io::Write;
    let dir = dir.join("fsync-floor");
    std::fs::create_dir_all(&dir)?;
    let mut times = Vec::new();
    for i in 0..N {
        let t = Instant::now();
        let mut file = std::fs::File::create_new(dir.join(i.to_string()))?;
        file.write_all(uid(i).as_bytes())?;
        file.sync_all()?;
        std::fs::File::open(&dir)?.sync_all()?;
        times.push(t.elapsed());
    }
    Ok(times)
}

/// Every set-up started at once, as after an agent restart with many pods: each one's
/// time and the wall time for all.
async fn all_at_once(
    net: &PodNetwork,
    netns: &[PathBuf],
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, ns) in netns.iter().enumerate() {
        let (net, ns) = (net.clone(), ns.clone());
        tasks.spawn(async move {
            let t = Instant::now();
            net.setup(&uid(i), &ns).await.map(|_| t.elapsed())
        });
    }
    let mut each = Vec::new();
    while let Some(done) = tasks.join_next().await {
        each.push(done??);
    }
    Ok((each, start.elapsed()))
}

/// The bench's namespaces and state; `Drop` removes whatever the bench made.
struct Bench {
    netns: Vec<PathBuf>,
    state: tempfile::TempDir,
}

impl Bench {
    fn new() -> anyhow::Result<Self> {
        scrub();
        let state = tempfile::Builder::new()
            .prefix("skiff-bench-net-")
            .tempdir_in("/var/tmp")?;
        let mut bench = Bench {
            netns: Vec::new(),
            state,
        };
        for i in 0..N {
            let name = format!("{NS_PREFIX}{i}");
            run(&["ip", "netns", "add", &name])?;
            bench.netns.push(Path::new("/run/netns").join(&name));
            run(&["ip", "-n", &name, "link", "set", "lo", "up"])?;
        }
        Ok(bench)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        scrub();
    }
}

/// Deletes the bench's namespaces (and with them the pod ends of every veth), its links,
/// bridge and nft table.
fn scrub() {
    let quiet = |args: &[&str]| {
        let _ = process::output(Command::new(args[0]).args(&args[1..]));
    };
    let names = |dir: &str| -> Vec<String> {
        let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
        entries
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    };
    for ns in names("/run/netns") {
        if ns.starts_with(NS_PREFIX) {
            quiet(&["ip", "netns", "del", &ns]);
        }
    }
    // The bench bridge's ports (skiff's veths and the floor's), and floor links left
    // detached.
    let floor = |l: &String| {
        l.strip_prefix(FLOOR_PREFIX)
            .is_some_and(|n| n.parse::<usize>().is_ok())
    };
    let ports = names(&format!("/sys/class/net/{BRIDGE}/brif"));
    let detached = names("/sys/class/net").into_iter().filter(floor);
    for link in ports.into_iter().chain(detached) {
        quiet(&["ip", "link", "del", &link]);
    }
    quiet(&["ip", "link", "del", BRIDGE]);
    quiet(&["nft", "delete", "table", "ip", TABLE]);
}

fn run(args: &[&str]) -> anyhow::Result<()> {
    process::run(Command::new(args[0]).args(&args[1..])).map(drop)
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    println!(
        "  {what:<40} p50 {:>9}  p99 {:>9}  max {:>9}",
        ms(pct(samples, 50)),
        ms(pct(samples, 99)),
        ms(*samples.last().unwrap_or(&Duration::ZERO))
    );
}

fn ratio(what: &str, skiff: &[Duration], floor: &[Duration]) {
    let r = |p| pct(skiff, p).as_secs_f64() / pct(floor, p).as_secs_f64();
    println!(
        "{what}: skiff / ip commands = {:.2} at p50, {:.2} at p99",
        r(50),
        r(99)
    );
}
