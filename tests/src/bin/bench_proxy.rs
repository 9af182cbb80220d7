//! The service proxy's sync and data-path costs, both backends, against a floor measured
//! in the same run: kube-proxy's nftables layout (a chain per service and per endpoint,
//! the layout whose rule count makes nft 1.0.6 go quadratic) for the same services through `nft -f`. Prints figures and ratios;
//! asserts none.
//!
//!     cargo build --release -p skiff-e2e --bin bench_proxy
//!     target/release/bench_proxy [SIZES, default 1000,10000] [--skip-iptables-at N] [--all-local]
//!
//! Everything happens inside network namespaces the bench creates ([`Lab`]) and
//! deletes at the end, also after a failure; the host's tables are never touched.
//! Figures per backend and size (services × 3 endpoints):
//! - full sync: `Proxier::resync` on an empty namespace (what an agent start costs);
//! - one change: `Proxier::update` of one service's endpoints, median of 21 spaced
//!   100 ms apart; and the same back to back ("in a burst"), where each update may wait
//!   for the kernel to release the previous one's rules (an RCU grace period);
//! - a service added and removed (median of 11 each, spaced);
//! - first packet: TCP connect + one answer through a ClusterIP from the client
//!   namespace, median of 200 new connections, at 10 services and at the largest size
//!   in two labs asked in turn (always through the service whose rule iptables walks
//!   last).
//!
//! The synthetic endpoints live on other nodes, as most of a big cluster's do (a node
//! has at most a /24 of pods); `--all-local` puts all 30,000 on this node instead.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use serde_json::json;
use skiff_agent::proxy::lab::{self, Lab, NODE_NAME};
use skiff_agent::proxy::model::{self, NodeView};
use skiff_agent::proxy::{Proxier, ProxyMode};

const GOAL_FULL_10K: Duration = Duration::from_secs(1);
const GOAL_ONE: Duration = Duration::from_millis(10);
const GOAL_LATENCY_RATIO: f64 = 1.2;
const PODS: [&str; 3] = ["10.200.0.11", "10.200.0.12", "10.200.0.13"];
/// Services to pick [`real`] among.
const REAL_AMONG: usize = 10_000;

/// The service the latency is measured through, among the first 10,000: the one whose
/// rule comes last in iptables' `SKIFF-SERVICES` (rules by descending chain name, which
/// is the port's hash), so that walking the chain costs all 10,000 rules.
fn real() -> usize {
    static REAL: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *REAL.get_or_init(|| {
        let view = NodeView {
            node_name: NODE_NAME,
            pod_cidr: lab::POD_CIDR.parse().expect("pod cidr"),
        };
        (0..REAL_AMONG)
            .min_by_key(|i| model::port_rules(&service(*i), None, &view)[0].hash())
            .unwrap_or(0)
    })
}
/// `--all-local`.
static ALL_LOCAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn cluster_ip(i: usize) -> String {
    format!("10.43.{}.{}", i / 250, i % 250 + 1)
}

fn service(i: usize) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": format!("s{i}"), "namespace": "bench"},
        "spec": {"clusterIP": cluster_ip(i), "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }))
    .expect("service")
}

/// Three endpoints; service [`real`] gets the lab's real pods (on this node), the others
/// addresses derived from `i` (and `shift`, to make a change), on other nodes unless
/// `all_local`.
fn endpoints(i: usize, shift: usize) -> Endpoints {
    let all_local = ALL_LOCAL.load(std::sync::atomic::Ordering::Relaxed);
    let ips: Vec<String> = if i == real() {
        PODS.iter().map(|s| s.to_string()).collect()
    } else {
        (0..3)
            .map(|k| {
                let n = i * 3 + k + shift;
                format!(
                    "10.{}.{}.{}",
                    100 + n / 62_500 % 50,
                    n / 250 % 250,
                    n % 250 + 1
                )
            })
            .collect()
    };
    let node = if i == real() || all_local {
        NODE_NAME.to_string()
    } else {
        format!("node-{}", i % 50)
    };
    let addresses: Vec<_> = ips
        .iter()
        .map(|ip| json!({"ip": ip, "nodeName": node}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": format!("s{i}"), "namespace": "bench"},
        "subsets": [{"addresses": addresses, "ports": [{"name": "http", "port": 8080}]}],
    }))
    .expect("endpoints")
}

fn services(n: usize) -> Vec<(Service, Option<Endpoints>)> {
    let real = real();
    let mut all: Vec<_> = (0..n)
        .filter(|i| *i != real)
        .take(n - 1)
        .map(|i| (service(i), Some(endpoints(i, 0))))
        .collect();
    all.push((service(real), Some(endpoints(real, 0))));
    all
}

fn lab(tag: &str) -> anyhow::Result<Lab> {
    let mut lab = Lab::new(tag).context("lab")?;
    for (k, ip) in PODS.iter().enumerate() {
        lab.add_pod(&format!("p{k}"), ip.parse()?)?;
    }
    Ok(lab)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Sync {
    full: Duration,
    one: Duration,
    burst: Duration,
    /// A new service, and its removal.
    added: Duration,
    removed: Duration,
    /// The tool's own cost at this size: a transaction that changes nothing
    /// (`add table` for nft, an empty `*nat`/`COMMIT` for iptables-restore).
    noop: Duration,
}

/// Full sync of `n` services into a fresh namespace, then single-service updates.
fn measure_sync(rt: &tokio::runtime::Runtime, mode: ProxyMode, n: usize) -> anyhow::Result<Sync> {
    let lab = lab("bps")?;
    let all = services(n);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec())?;
    let t = Instant::now();
    rt.block_on(p.resync(&all))?;
    let full = t.elapsed();
    // A synthetic service of the set (not the real one, whose endpoints never move).
    let target = (n / 2..).find(|i| *i != real()).unwrap_or(0);
    let target_svc = service(target);
    let mut round = 0;
    let mut change = |p: &mut Proxier| -> anyhow::Result<Duration> {
        round += 1;
        let eps = endpoints(target, round % 2 + 1);
        let t = Instant::now();
        rt.block_on(p.update(&target_svc, Some(&eps)))?;
        Ok(t.elapsed())
    };
    let mut times = Vec::new();
    for _ in 0..21 {
        std::thread::sleep(Duration::from_millis(100));
        times.push(change(&mut p)?);
    }
    let mut burst = Vec::new();
    for _ in 0..21 {
        burst.push(change(&mut p)?);
    }
    // A service that comes and goes (its rules in the shared chains too).
    let new = (n + 1..).find(|i| *i != real()).unwrap_or(n + 1);
    let extra = service(new);
    let extra_eps = endpoints(new, 0);
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    for _ in 0..11 {
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        rt.block_on(p.update(&extra, Some(&extra_eps)))?;
        added.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        rt.block_on(p.remove("bench", &format!("s{new}")))?;
        removed.push(t.elapsed());
    }
    let (program, args, input) = match mode {
        ProxyMode::Nftables => ("nft", &["-f", "-"][..], "add table ip skiff_proxy\n"),
        ProxyMode::Iptables => (
            "iptables-restore",
            &["-w", "--noflush"][..],
            "*nat\nCOMMIT\n",
        ),
    };
    let mut noop = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        run_in(&lab.node_ns(), program, args, input)?;
        noop.push(t.elapsed());
    }
    Ok(Sync {
        full,
        one: median(times),
        burst: median(burst),
        added: median(added),
        removed: median(removed),
        noop: median(noop),
    })
}

/// Runs `program` inside the namespace with `input` on stdin (`ip netns exec`'s own
/// cost included: the proxier enters the namespace more cheaply, so this is a
/// conservative floor).
fn run_in(ns: &str, program: &str, args: &[&str], input: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{program}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Median first-answer times of new connections to service [`real`] with 10 and with
/// `n` services loaded, in two labs side by side, asked in turn so that the machine's
/// load changes weigh on both alike.
fn measure_latency(
    rt: &tokio::runtime::Runtime,
    mode: ProxyMode,
    n: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let (small, big) = (lab("bpa")?, lab("bpb")?);
    let mut proxiers = Vec::new();
    for (lab, count) in [(&small, 10), (&big, n)] {
        let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec())?;
        rt.block_on(p.resync(&services(count)))?;
        proxiers.push(p);
    }
    let to = format!("{}:80", cluster_ip(real())).parse()?;
    let clients = [small.client_ns(), big.client_ns()];
    for client in &clients {
        for _ in 0..20 {
            lab::tcp_ask(client, to)?;
        }
    }
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..200 {
        for (client, times) in clients.iter().zip(times.iter_mut()) {
            let t = Instant::now();
            lab::tcp_ask(client, to)?;
            times.push(t.elapsed());
        }
    }
    let [a, b] = times;
    Ok((median(a), median(b)))
}

/// kube-proxy's nftables layout for `n` services × 3 endpoints: a vmap from service
/// address to a chain per service, which picks a chain per endpoint.
fn floor_script(n: usize) -> String {
    let t = "ip kp_floor";
    let mut s = format!(
        "add table {t}\nadd chain {t} nat-prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
         add map {t} service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict; }}\n\
         add rule {t} nat-prerouting ip daddr . meta l4proto . th dport vmap @service-ips\n\
         add chain {t} mark-for-masquerade\nadd rule {t} mark-for-masquerade mark set mark or 0x4000\n"
    );
    for i in 0..n {
        let svc = format!("service-{i}-bench-s{i}-tcp-http");
        s.push_str(&format!("add chain {t} {svc}\n"));
        let mut vmap = Vec::new();
        for k in 0..3 {
            let ep = format!("endpoint-{i}-{k}");
            let ip = format!(
                "10.{}.{}.{}",
                100 + (i * 3 + k) / 62_500 % 50,
                (i * 3 + k) / 250 % 250,
                (i * 3 + k) % 250 + 1
            );
            s.push_str(&format!(
                "add chain {t} {ep}\nadd rule {t} {ep} ip saddr {ip} jump mark-for-masquerade\n\
                 add rule {t} {ep} meta l4proto tcp dnat to {ip}:8080\n"
            ));
            vmap.push(format!("{k} : goto {ep}"));
        }
        s.push_str(&format!(
            "add rule {t} {svc} numgen random mod 3 vmap {{ {} }}\n",
            vmap.join(", ")
        ));
        s.push_str(&format!(
            "add element {t} service-ips {{ {} . tcp . 80 : goto {svc} }}\n",
            cluster_ip(i)
        ));
    }
    s
}

fn measure_floor(n: usize) -> anyhow::Result<Duration> {
    let lab = Lab::new("bpf")?;
    let script = floor_script(n);
    let path = std::env::temp_dir().join(format!("bench_proxy_floor_{}.nft", std::process::id()));
    std::fs::write(&path, script)?;
    let t = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.node_ns(), "nft", "-f"])
        .arg(&path)
        .output()?;
    let took = t.elapsed();
    let _ = std::fs::remove_file(&path);
    if !out.status.success() {
        bail!("floor nft -f: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(took)
}

fn main() -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("bench_proxy needs root (network namespaces, nft, iptables)");
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = match args.first().filter(|a| !a.starts_with("--")) {
        Some(list) => list
            .split(',')
            .map(|s| s.parse().context("sizes: comma-separated numbers"))
            .collect::<anyhow::Result<_>>()?,
        None => vec![1000, 10_000],
    };
    // iptables-nft at 10,000 services can take minutes; allow leaving it out.
    let skip_ipt_at: Option<usize> = args
        .iter()
        .position(|a| a == "--skip-iptables-at")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse())
        .transpose()?;
    ALL_LOCAL.store(
        args.iter().any(|a| a == "--all-local"),
        std::sync::atomic::Ordering::Relaxed,
    );
    let rt = tokio::runtime::Runtime::new()?;
    let floor_n = 1000;
    let floor = measure_floor(floor_n)?;
    println!("floor: kube-proxy layout (chain per service and endpoint), {floor_n} services × 3 via nft -f: {}", ms(floor));
    let largest = *sizes.iter().max().unwrap_or(&1000);
    for mode in [ProxyMode::Nftables, ProxyMode::Iptables] {
        println!("\n== {mode} ==");
        for &n in &sizes {
            if mode == ProxyMode::Iptables && skip_ipt_at.is_some_and(|s| n >= s) {
                println!("{n:>6} services: skipped (--skip-iptables-at)");
                continue;
            }
            let s = measure_sync(&rt, mode, n)?;
            let program = match mode {
                ProxyMode::Nftables => "nft -f",
                ProxyMode::Iptables => "iptables-restore",
            };
            let mut line = format!(
                "{n:>6} services × 3: full sync {} ({:.2}× the floor's {floor_n}), one change {} (goal ≤ {}; in a burst {}; a no-op {program} run here: {}, {:.2}×)",
                ms(s.full),
                s.full.as_secs_f64() / floor.as_secs_f64(),
                ms(s.one),
                ms(GOAL_ONE),
                ms(s.burst),
                ms(s.noop),
                s.one.as_secs_f64() / s.noop.as_secs_f64(),
            );
            if n == 10_000 {
                line.push_str(&format!(", full-sync goal ≤ {}", ms(GOAL_FULL_10K)));
            }
            line.push_str(&format!(
                "; a new service {}, its removal {}",
                ms(s.added),
                ms(s.removed)
            ));
            println!("{line}");
        }
        if mode == ProxyMode::Iptables && skip_ipt_at.is_some_and(|s| largest >= s) {
            continue;
        }
        let (small, big) = measure_latency(&rt, mode, largest)?;
        println!(
            "first packet (connect + answer, median of 200): {} at 10 services, {} at {largest}: {:.2}× (goal ≤ {GOAL_LATENCY_RATIO}×)",
            ms(small),
            ms(big),
            big.as_secs_f64() / small.as_secs_f64()
        );
    }
    Ok(())
}
