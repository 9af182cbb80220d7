//! The pod network across nodes (`skiff_agent::network::podnet`): pod-to-pod request
//! latency (p50/p99 of 1,000 small request/response round trips on one TCP connection)
//! and bulk throughput between two node namespaces, for host-gw (nodes on one network)
//! and vxlan (nodes on two networks joined by a router namespace), each as a ratio to the
//! same two node namespaces talking directly, measured in the same run; and the time to
//! program 100 synthetic peers. Prints figures; asserts none.
//!
//!     cargo build --release --workspace && cargo run --release -p skiff-e2e --bin bench_pod_network_nodes
//!
//! Everything lives in namespaces of its own (`skbn*`), deleted at the end, also after a
//! failure; packets only flow between them.

use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sched::CloneFlags;
use skiff_agent::network::podnet::{
    Backend, HostPodnetOps, LocalNode, Peer, PodnetSync, VXLAN_DEVICE, VXLAN_OVERHEAD,
};
use skiff_agent::network::{NetworkConfig, PodNetwork};
use skiff_e2e::bench::{ms, p};
use skiff_e2e::require_root_and_tools;

const ROUND_TRIPS: usize = 1000;
const BULK_BYTES: usize = 256 << 20;
const PEERS: u8 = 100;
const GOAL_PROGRAMMING: Duration = Duration::from_millis(50);

fn main() -> anyhow::Result<()> {
    if !require_root_and_tools() {
        std::process::exit(1);
    }
    let _serial = skiff_e2e::serial();
    println!(
        "{ROUND_TRIPS} round trips of 64 bytes on one connection; {} MiB bulk",
        BULK_BYTES >> 20
    );
    for (backend, b_subnet) in [(Backend::HostGw, 1), (Backend::Vxlan, 2)] {
        let lab = Lab::new(backend, b_subnet)?;
        let (a, b) = (&lab.nodes[0], &lab.nodes[1]);
        let floor = measure(&a.ns, &b.ns, b.ip)?;
        let pods = measure(&a.pod_ns, &b.pod_ns, b.pod_ip)?;
        let where_ = if b_subnet == 1 {
            "one network"
        } else {
            "two networks, a router between"
        };
        println!("\n{} ({where_}):", backend.name());
        floor.print("node → node");
        pods.print("pod → pod");
        println!(
            "  ratio pod/node: latency p50 {:.2}, p99 {:.2}; throughput {:.2}",
            ratio(p(&pods.rtt, 50), p(&floor.rtt, 50)),
            ratio(p(&pods.rtt, 99), p(&floor.rtt, 99)),
            pods.gbps / floor.gbps,
        );
        let goal = if backend == Backend::HostGw { 1.1 } else { 1.3 };
        println!("  goal: latency within {goal}× of node → node");
    }
    for backend in [Backend::HostGw, Backend::Vxlan] {
        let lab = Lab::new(backend, 1)?;
        let (add, remove) = lab.program_synthetic(backend)?;
        let verdict = if add <= GOAL_PROGRAMMING {
            "met"
        } else {
            "missed"
        };
        println!(
            "\n{} peers programmed ({}): {} to add, {} to remove; goal ≤ {} ({verdict})",
            PEERS,
            backend.name(),
            ms(add),
            ms(remove),
            ms(GOAL_PROGRAMMING)
        );
    }
    Ok(())
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

struct Measured {
    rtt: Vec<Duration>,
    gbps: f64,
}

impl Measured {
    fn print(&self, what: &str) {
        println!(
            "  {what:<12} p50 {:>8}  p99 {:>8}  throughput {:.2} Gbit/s",
            us(p(&self.rtt, 50)),
            us(p(&self.rtt, 99)),
            self.gbps
        );
    }
}

/// A server in `server_ns` on `ip` (echo for the round trips, then a sink for the bulk
/// transfer), a client in `client_ns`.
fn measure(client_ns: &str, server_ns: &str, ip: Ipv4Addr) -> anyhow::Result<Measured> {
    let server_ns = server_ns.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || -> anyhow::Result<()> {
        enter(&server_ns)?;
        let listener = TcpListener::bind((ip, 0))?;
        tx.send(listener.local_addr()?.port())?;
        let (mut echo, _) = listener.accept()?;
        let mut buf = [0u8; 64];
        for _ in 0..ROUND_TRIPS {
            echo.read_exact(&mut buf)?;
            echo.write_all(&buf)?;
        }
        let (mut sink, _) = listener.accept()?;
        let mut chunk = vec![0u8; 1 << 16];
        let mut total = 0;
        while total < BULK_BYTES {
            let n = sink.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            total += n;
        }
        sink.write_all(b"k")?;
        Ok(())
    });
    let port = rx.recv_timeout(Duration::from_secs(5))?;
    let client_ns = client_ns.to_string();
    let measured = std::thread::spawn(move || -> anyhow::Result<Measured> {
        enter(&client_ns)?;
        let addr = SocketAddr::from((ip, port));
        let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connect to {addr}"))?;
        conn.set_nodelay(true)?;
        let mut buf = [7u8; 64];
        let mut rtt = Vec::with_capacity(ROUND_TRIPS);
        for _ in 0..ROUND_TRIPS {
            let t = Instant::now();
            conn.write_all(&buf)?;
            conn.read_exact(&mut buf)?;
            rtt.push(t.elapsed());
        }
        let mut bulk = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        let chunk = vec![1u8; 1 << 16];
        let t = Instant::now();
        let mut sent = 0;
        while sent < BULK_BYTES {
            bulk.write_all(&chunk)?;
            sent += chunk.len();
        }
        let mut ack = [0u8; 1];
        bulk.read_exact(&mut ack)?;
        let gbps = (sent as f64 * 8.0) / t.elapsed().as_secs_f64() / 1e9;
        Ok(Measured { rtt, gbps })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
    Ok(measured)
}

fn enter(ns: &str) -> anyhow::Result<()> {
    let file = File::open(format!("/run/netns/{ns}"))?;
    nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)?;
    Ok(())
}

/// Runs `f` on a thread in namespace `ns` (network only), with its own runtime.
fn in_netns<F, Fut, T>(ns: &str, f: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns)?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(f())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("netns thread panicked"))?
}

fn run(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    if !out.status.success() {
        bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

struct Node {
    ns: String,
    pod_ns: String,
    ip: Ipv4Addr,
    pod_ip: Ipv4Addr,
    peer: Peer,
    _state: tempfile::TempDir,
}

/// A router namespace with two networks; node 1 on the first, node 2 on `b_subnet`.
struct Lab {
    namespaces: Vec<String>,
    nodes: Vec<Node>,
}

impl Lab {
    fn new(backend: Backend, b_subnet: u8) -> anyhow::Result<Lab> {
        let mut lab = Lab {
            namespaces: Vec::new(),
            nodes: Vec::new(),
        };
        let router = "skbnr";
        lab.netns(router)?;
        for (br, ip) in [("br1", "172.30.1.254/24"), ("br2", "172.30.2.254/24")] {
            run(&["ip", "-n", router, "link", "add", br, "type", "bridge"])?;
            run(&["ip", "-n", router, "addr", "add", ip, "dev", br])?;
            run(&["ip", "-n", router, "link", "set", br, "up"])?;
        }
        run(&[
            "nsenter",
            "--net=/run/netns/skbnr",
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])?;
        for (i, subnet) in [(1u8, 1u8), (2, b_subnet)] {
            lab.node(router, i, subnet, backend)?;
        }
        let peers: Vec<Peer> = lab.nodes.iter().map(|n| n.peer.clone()).collect();
        for node in &lab.nodes {
            let local = local_of(&node.peer, backend);
            let peers = peers.clone();
            in_netns(&node.ns, move || async move {
                let mut sync =
                    PodnetSync::new(Arc::new(HostPodnetOps), local, "skiff0", mtu(backend));
                sync.ensure_device().await;
                let report = sync.sync(&peers).await?;
                if !report.problems.is_empty() {
                    bail!("peers without routes: {:?}", report.problems);
                }
                Ok(())
            })?;
        }
        Ok(lab)
    }

    fn netns(&mut self, name: &str) -> anyhow::Result<()> {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        run(&["ip", "netns", "add", name])?;
        self.namespaces.push(name.to_string());
        run(&["ip", "-n", name, "link", "set", "lo", "up"])
    }

    fn node(&mut self, router: &str, i: u8, subnet: u8, backend: Backend) -> anyhow::Result<()> {
        let (ns, pod_ns) = (format!("skbnn{i}"), format!("skbnp{i}"));
        self.netns(&ns)?;
        self.netns(&pod_ns)?;
        let ip = Ipv4Addr::new(172, 30, subnet, 10 + i);
        let port = format!("n{i}");
        run(&[
            "ip", "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
            router,
        ])?;
        run(&[
            "ip",
            "-n",
            router,
            "link",
            "set",
            &port,
            "master",
            &format!("br{subnet}"),
            "up",
        ])?;
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth0",
        ])?;
        run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
        run(&[
            "ip",
            "-n",
            &ns,
            "route",
            "add",
            "default",
            "via",
            &format!("172.30.{subnet}.254"),
        ])?;
        let state = tempfile::tempdir()?;
        let pod_cidr = format!("10.240.{i}.0/24").parse()?;
        let mut cfg = NetworkConfig::new(pod_cidr, state.path().join("network"));
        cfg.cluster_cidr = Some("10.240.0.0/16".parse()?);
        cfg.mtu = Some(mtu(backend));
        let netns_path = std::path::PathBuf::from(format!("/run/netns/{pod_ns}"));
        let pod_ip = in_netns(&ns, move || async move {
            let net = PodNetwork::init(cfg).await?;
            Ok(net.setup("bench-pod", &netns_path).await?.ip)
        })?;
        // The VTEP MAC is derived from the node address (network/podnet/vxlan.rs), so it
        // is known before the device exists; ensure_device returns the same one.
        let mut probe = PodnetSync::new(
            Arc::new(HostPodnetOps),
            LocalNode {
                name: format!("node{i}"),
                node_ip: ip,
                pod_cidr,
                cluster_cidr: "10.240.0.0/16".parse()?,
                backend,
                vxlan_device: VXLAN_DEVICE.into(),
            },
            "skiff0",
            mtu(backend),
        );
        let vtep_mac = in_netns(&ns, move || async move {
            probe.ensure_device().await;
            Ok(probe.vtep_mac())
        })?;
        self.nodes.push(Node {
            ns,
            pod_ns,
            ip,
            pod_ip,
            peer: Peer {
                name: format!("node{i}"),
                node_ip: Some(ip),
                pod_cidr: Some(pod_cidr),
                vtep_mac,
            },
            _state: state,
        });
        Ok(())
    }

    /// Node 1 syncs to 100 synthetic peers (behind the router for vxlan, so each needs a
    /// route, a neighbour and an FDB entry; on its network for host-gw), then to none.
    fn program_synthetic(&self, backend: Backend) -> anyhow::Result<(Duration, Duration)> {
        let node = &self.nodes[0];
        let local = local_of(&node.peer, backend);
        let peers: Vec<Peer> = (0..PEERS)
            .map(|k| Peer {
                name: format!("synthetic{k}"),
                node_ip: Some(match backend {
                    Backend::HostGw => Ipv4Addr::new(172, 30, 1, 100 + k),
                    Backend::Vxlan => Ipv4Addr::new(172, 30, 9, 10 + k),
                }),
                pod_cidr: Some(
                    format!("10.240.{}.0/24", 100 + u16::from(k))
                        .parse()
                        .unwrap(),
                ),
                vtep_mac: Some([2, 0xbe, 0, 0, 0, k]),
            })
            .collect();
        in_netns(&node.ns, move || async move {
            let mut sync = PodnetSync::new(Arc::new(HostPodnetOps), local, "skiff0", mtu(backend));
            sync.ensure_device().await;
            let t = Instant::now();
            let report = sync.sync(&peers).await?;
            let add = t.elapsed();
            if !report.problems.is_empty() || report.added == 0 {
                bail!("synthetic peers not programmed: {report:?}");
            }
            let t = Instant::now();
            sync.sync(&[]).await?;
            Ok((add, t.elapsed()))
        })
    }
}

fn local_of(peer: &Peer, backend: Backend) -> LocalNode {
    LocalNode {
        name: peer.name.clone(),
        node_ip: peer.node_ip.unwrap(),
        pod_cidr: peer.pod_cidr.unwrap(),
        cluster_cidr: "10.240.0.0/16".parse().unwrap(),
        backend,
        vxlan_device: VXLAN_DEVICE.into(),
    }
}

fn mtu(backend: Backend) -> u32 {
    match backend {
        Backend::Vxlan => 1500 - VXLAN_OVERHEAD,
        Backend::HostGw => 1500,
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
