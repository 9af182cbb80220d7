//! Pod-network helpers for the e2e tests: reaching a pod from the node, a stand-in for
//! the outside world in its own namespace, a dummy link to provoke a CIDR overlap, and
//! [`Footprint`], what the pod network holds on the node, compared before and after
//! churn to find leaks. Traffic only goes to the pod CIDR or to namespaces and links the
//! tests create; every one of those is removed in `Drop`, also when a test panics.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use skiff_agent::network::host_veth_name;

use crate::agent::TestAgent;
use crate::pods::{pod_name, pod_uid};
use crate::process;

/// The node's bridge and nftables table (docs/architecture.md, Pod network).
pub const BRIDGE: &str = "skiff0";
pub const NFT_TABLE: &str = "skiff";

/// Where pod addresses may come from in these tests: the agent's pod CIDRs are inside it.
const POD_RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 42, 0, 0), 16);

/// `status.podIP`, parsed.
pub fn pod_ip(pod: &Value) -> Option<Ipv4Addr> {
    pod["status"]["podIP"].as_str()?.parse().ok()
}

/// `status.hostIP`.
pub fn host_ip(pod: &Value) -> Option<&str> {
    pod["status"]["hostIP"].as_str()
}

/// `GET /` from the node to a pod, over a plain `TcpStream`; refuses addresses outside
/// the pod range so a wrong status can never send test traffic elsewhere.
pub fn get_from_pod(ip: Ipv4Addr, port: u16) -> anyhow::Result<String> {
    let (net, len) = POD_RANGE;
    let mask = u32::MAX << (32 - len);
    ensure!(
        u32::from(ip) & mask == u32::from(net),
        "refusing to send test traffic to {ip}: not a pod address"
    );
    let addr = SocketAddr::new(IpAddr::V4(ip), port);
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")?;
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .with_context(|| format!("reading {addr}"))?;
    Ok(raw)
}

/// Runs a command inside the network namespace bound at `netns` (a pod's
/// `<root>/sandboxes/<uid>/net`) and returns its stdout.
pub fn in_netns(netns: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", netns.display())).args(args);
    process::run(&mut cmd)
}

/// Names of the host-side pod veths attached to `bridge`.
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    names_in(&Path::new("/sys/class/net").join(bridge).join("brif"))
}

/// Every link in the node's namespace named like a pod veth (`sk` + 11 hex digits),
/// attached to a bridge or not: a detached one is as much a leak.
pub fn pod_veths() -> Vec<String> {
    let mut found = names_in(Path::new("/sys/class/net"));
    found.retain(|n| {
        n.len() == 13 && n.starts_with("sk") && n[2..].bytes().all(|b| b.is_ascii_hexdigit())
    });
    found
}

fn names_in(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let mut names: Vec<String> = entries
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// The IPAM's allocations, `(address, pod uid)`: files named by an address under
/// `<root>/network/ipam/<cidr>/` (bookkeeping such as `last_reserved` is not one).
pub fn ipam_entries(root: &Path) -> anyhow::Result<Vec<(Ipv4Addr, String)>> {
    let ipam = root.join("network").join("ipam");
    let mut found = Vec::new();
    for dir in names_in(&ipam) {
        for name in names_in(&ipam.join(&dir)) {
            let Ok(ip) = name.parse::<Ipv4Addr>() else {
                continue;
            };
            let path = ipam.join(&dir).join(&name);
            let uid = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            found.push((ip, uid.trim().to_string()));
        }
    }
    found.sort();
    Ok(found)
}

/// The node's pod network matches `running` exactly: distinct addresses, each the pod's
/// IPAM entry and on its `eth0`, one veth per pod on the bridge, no other entries.
pub fn check_addresses(a: &TestAgent, running: &[Value]) -> anyhow::Result<()> {
    let mut by_ip = BTreeMap::new();
    let mut veths = BTreeSet::new();
    for pod in running {
        let ip = pod_ip(pod).with_context(|| format!("{} has no podIP", pod_name(pod)))?;
        if let Some(other) = by_ip.insert(ip, pod_uid(pod).to_string()) {
            anyhow::bail!("{ip} given to {other} and {}", pod_uid(pod));
        }
        veths.insert(host_veth_name(pod_uid(pod)));
        let eth0 = in_netns(&a.sandbox_dir(pod).join("net"), &["ip", "-o", "-4", "addr"])?;
        let cidr = format!("{ip}/");
        let on_eth0 = eth0.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.get(1..3) == Some(&["eth0", "inet"][..])
                && words.get(3).is_some_and(|w| w.starts_with(&cidr))
        });
        ensure!(on_eth0, "{} lacks {ip} on eth0: {eth0}", pod_name(pod));
    }
    let ipam: BTreeMap<Ipv4Addr, String> = ipam_entries(&a.root())?.into_iter().collect();
    ensure!(ipam == by_ip, "IPAM {ipam:?}, pods {by_ip:?}");
    let ports: BTreeSet<String> = bridge_ports(BRIDGE).into_iter().collect();
    ensure!(
        ports == veths,
        "bridge ports {ports:?}, pods' veths {veths:?}"
    );
    Ok(())
}

/// How many chains, rules and set elements an nftables table (family `ip`) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NftCounts {
    pub chains: usize,
    pub rules: usize,
    pub elements: usize,
}

pub fn nft_counts(table: &str) -> anyhow::Result<NftCounts> {
    let out = process::run(Command::new("nft").args(["-j", "list", "table", "ip", table]))?;
    let json: Value = serde_json::from_str(&out).context("nft -j printed non-JSON")?;
    let mut counts = NftCounts::default();
    for object in json["nftables"].as_array().map_or(&[][..], Vec::as_slice) {
        counts.chains += usize::from(object.get("chain").is_some());
        counts.rules += usize::from(object.get("rule").is_some());
        counts.elements += object["set"]["elem"].as_array().map_or(0, Vec::len)
            + object["map"]["elem"].as_array().map_or(0, Vec::len);
    }
    Ok(counts)
}

/// What the pod network holds on the node for one agent. Two equal footprints mean
/// nothing per pod was left behind in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    pub veths: Vec<String>,
    pub bridge_ports: Vec<String>,
    pub ipam: Vec<(Ipv4Addr, String)>,
    /// Entries under `<root>/sandboxes` (one directory of namespace files per pod).
    pub sandboxes: Vec<String>,
    /// Mount points under the agent's root (the namespaces' bind mounts), except
    /// `<root>/sandboxes` itself, which the agent makes a shared mount once, for all pods.
    pub mounts: Vec<PathBuf>,
    pub nft: NftCounts,
}

impl Footprint {
    pub fn read(root: &Path) -> anyhow::Result<Self> {
        Ok(Footprint {
            veths: pod_veths(),
            bridge_ports: bridge_ports(BRIDGE),
            ipam: ipam_entries(root)?,
            sandboxes: names_in(&root.join("sandboxes")),
            mounts: process::mounts_under(root)
                .into_iter()
                .filter(|m| *m != root.join("sandboxes"))
                .collect(),
            nft: nft_counts(NFT_TABLE)?,
        })
    }

    /// Fails, naming the differences, unless nothing per pod is left compared to `before`
    /// (taken when no pod existed).
    pub fn ensure_back_to(&self, before: &Footprint) -> anyhow::Result<()> {
        ensure!(
            self == before,
            "leftovers: now {self:#?}\nat start {before:#?}"
        );
        Ok(())
    }
}

/// The outside world: namespace [`World::NS`] behind a veth pair on its own /30, with an
/// HTTP server at `10.250.0.2:8080` that answers `you came from <peer address>` and
/// records every peer.
pub struct World {
    peers: Arc<Mutex<Vec<IpAddr>>>,
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
}

impl World {
    pub const NS: &'static str = "skiff-e2e-world";
    /// The node's side of the pair (in the node's namespace).
    pub const LINK: &'static str = "skiff-e2e-w0";
    pub const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 1);
    pub const IP: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 2);
    pub const PORT: u16 = 8080;

    pub fn start() -> anyhow::Result<Self> {
        Self::remove();
        let mut world = World {
            peers: Arc::default(),
            stop: Arc::default(),
            server: None,
        };
        let ns = Self::NS;
        ip(&["netns", "add", ns])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&[
            "link",
            "add",
            Self::LINK,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/30", Self::HOST_IP),
            "dev",
            Self::LINK,
        ])?;
        ip(&["link", "set", Self::LINK, "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/30", Self::IP),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let (peers, stop) = (world.peers.clone(), world.stop.clone());
        world.server = Some(std::thread::spawn(move || match listen_in_world() {
            Ok(listener) => {
                let _ = ready_tx.send(Ok(()));
                serve(&listener, &peers, &stop);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        }));
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the world's server did not start")??;
        Ok(world)
    }

    pub fn url() -> String {
        format!("http://{}:{}/", Self::IP, Self::PORT)
    }

    /// Source addresses of every connection the server accepted.
    pub fn peers(&self) -> Vec<IpAddr> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Deletes the namespace and the link (a crashed earlier run's as well).
    fn remove() {
        let _ = process::output(Command::new("ip").args(["netns", "del", Self::NS]));
        let _ = process::output(Command::new("ip").args(["link", "del", Self::LINK]));
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
        Self::remove();
    }
}

/// Binds the server socket from a thread that joined the world's namespace; the socket
/// stays there whichever thread uses it. setns(CLONE_NEWNET) only moves this thread.
fn listen_in_world() -> anyhow::Result<TcpListener> {
    let path = Path::new("/run/netns").join(World::NS);
    let ns = std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).context("setns")?;
    let listener = TcpListener::bind((World::IP, World::PORT))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn serve(listener: &TcpListener, peers: &Mutex<Vec<IpAddr>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let (mut stream, peer) = match listener.accept() {
            Ok(conn) => conn,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(peer.ip());
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let body = format!("you came from {}\n", peer.ip());
        let _ = write!(
            stream,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }
}

/// A link holding an address, standing for a network the node already uses: a veth
/// pair with both ends on the node (the kernel may lack the dummy driver).
pub struct HostLink {
    name: String,
}

impl HostLink {
    /// `name` (its peer `<name>p`) with `addr` (`10.251.0.1/24`), up.
    pub fn create(name: &str, addr: &str) -> anyhow::Result<Self> {
        let _ = process::output(Command::new("ip").args(["link", "del", name]));
        let peer = format!("{name}p");
        ip(&["link", "add", name, "type", "veth", "peer", "name", &peer])?;
        let link = HostLink {
            name: name.to_string(),
        };
        ip(&["addr", "add", addr, "dev", name])?;
        ip(&["link", "set", name, "up"])?;
        ip(&["link", "set", &peer, "up"])?;
        Ok(link)
    }
}

/// Deleting one end of the pair deletes both.
impl Drop for HostLink {
    fn drop(&mut self) {
        let _ = process::output(Command::new("ip").args(["link", "del", &self.name]));
    }
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    process::run(Command::new("ip").args(args)).map(drop)
}

/// The row of `skiff get pods -o wide` for a pod, split on whitespace, and the header.
pub fn wide_row(table: &str, pod: &str) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut lines = table.lines();
    let header = lines.next().context("empty table")?;
    let row = lines
        .find(|l| l.split_whitespace().next() == Some(pod))
        .with_context(|| format!("no row for {pod} in:\n{table}"))?;
    let split = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    if !header.starts_with("NAME") {
        bail!("no header in:\n{table}");
    }
    Ok((split(header), split(row)))
}

/// `GET /` over HTTP/1.0 from the host (the root namespace) to a node's address the test
/// set up: the body, trimmed.
pub fn http_get(addr: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr.parse()?, Duration::from_secs(3))
        .with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok(body.trim().to_string())
}
