//! The pod network for real: netns, veths, the bridge, nftables, packets. Needs root;
//! opt in with SKIFF_TEST_PRIVILEGED=1. Everything lives on a test bridge (`sktest0`),
//! a test CIDR (10.99.0.0/24), a test nft table (`skiff_test`) and namespaces the tests
//! create, and is removed by `Host`'s drop even when a test fails. Traffic only goes to
//! addresses inside those namespaces or on the test bridge.
//!
//! `ip_forward` is left at 1 afterwards: a skiff agent sets it anyway, and putting it
//! back to 0 could break a real agent's pods running on the same machine.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;

use super::*;

const BRIDGE: &str = "sktest0";
const TABLE: &str = "skiff_test";
const CIDR: &str = "10.99.0.0/24";
/// The "outside world": a namespace behind its own veth pair, off the pod CIDR.
const WORLD_HOST: &str = "sktw0";
const WORLD_HOST_IP: &str = "10.98.0.1";
const WORLD_IP: &str = "10.98.0.2";

/// One privileged test at a time: they share the bridge, table and CIDR.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Opted in with SKIFF_TEST_PRIVILEGED=1 (required under CI=true); once opted in, a
/// missing prerequisite fails.
pub(in crate::network) fn privileged() -> bool {
    if crate::test_support::test_env("SKIFF_TEST_PRIVILEGED").is_none() {
        return false;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "SKIFF_TEST_PRIVILEGED=1 needs root"
    );
    true
}

pub(in crate::network) fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the test made on the host, undone on drop.
struct Host {
    dir: tempfile::TempDir,
    tag: String,
    netns: Vec<String>,
    links: Vec<String>,
}

impl Host {
    fn new() -> Self {
        let host = Host {
            dir: tempfile::tempdir().unwrap(),
            tag: format!("sk{}", std::process::id() % 100_000),
            netns: Vec::new(),
            links: Vec::new(),
        };
        host.scrub();
        host
    }

    fn cfg(&self) -> NetworkConfig {
        let mut cfg = NetworkConfig::new(CIDR.parse().unwrap(), self.dir.path().join("network"));
        cfg.bridge = BRIDGE.into();
        cfg.nft_table = TABLE.into();
        cfg
    }

    /// A fresh network namespace, as the sandbox makes one per pod.
    fn netns(&mut self, name: &str) -> PathBuf {
        let name = format!("{}-{name}", self.tag);
        sh(&["ip", "netns", "add", &name]);
        sh(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        self.netns.push(name.clone());
        PathBuf::from("/run/netns").join(name)
    }

    /// The outside world: a namespace at 10.98.0.2/30, the host at 10.98.0.1/30.
    fn world(&mut self) -> PathBuf {
        let path = self.netns("world");
        let name = self.netns.last().unwrap().clone();
        sh(&[
            "ip", "link", "add", WORLD_HOST, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ]);
        self.links.push(WORLD_HOST.into());
        sh(&[
            "ip",
            "addr",
            "add",
            &format!("{WORLD_HOST_IP}/30"),
            "dev",
            WORLD_HOST,
        ]);
        sh(&["ip", "link", "set", WORLD_HOST, "up"]);
        sh(&[
            "ip",
            "-n",
            &name,
            "addr",
            "add",
            &format!("{WORLD_IP}/30"),
            "dev",
            "eth0",
        ]);
        sh(&["ip", "-n", &name, "link", "set", "eth0", "up"]);
        path
    }

    fn ipam_files(&self) -> Vec<String> {
        let dir = self.dir.path().join("network/ipam/10.99.0.0-24");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.parse::<Ipv4Addr>().is_ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Removes what a test (this one or a crashed earlier one) left.
    fn scrub(&self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new(args[0]).args(&args[1..]).output();
        };
        for ns in &self.netns {
            quiet(&["ip", "netns", "del", ns]);
        }
        for link in self
            .links
            .iter()
            .map(String::as_str)
            .chain([WORLD_HOST, BRIDGE])
        {
            if std::path::Path::new("/sys/class/net").join(link).exists() {
                quiet(&["ip", "link", "del", link]);
            }
        }
        let mut nft = Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let script = nft::delete_table_script(TABLE);
        nft.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let _ = nft.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.scrub();
    }
}

/// Runs `f` on a thread inside the namespace at `netns`; sockets it makes stay there.
fn in_netns<T: Send + 'static>(
    netns: &std::path::Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let netns = netns.to_path_buf();
    std::thread::spawn(move || {
        let file = File::open(&netns).unwrap();
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// Listens at `addr` inside `netns`; the returned thread yields the first client's
/// address and what it sent.
fn serve_once(
    netns: &std::path::Path,
    addr: SocketAddr,
) -> std::thread::JoinHandle<(SocketAddr, String)> {
    let listener = in_netns(netns, move || TcpListener::bind(addr).unwrap());
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    stream.set_nonblocking(false).unwrap();
                    let mut got = String::new();
                    stream.read_to_string(&mut got).unwrap();
                    return (peer, got);
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept on {addr}: {e}"),
            }
        }
    })
}

fn send(to: SocketAddr, what: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(3))?;
    stream.write_all(what.as_bytes())
}

fn send_from(netns: &std::path::Path, to: SocketAddr, what: &str) {
    let what = what.to_string();
    in_netns(netns, move || send(to, &what)).unwrap();
}

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

fn ifindex(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn our_veths() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            std::fs::read_link(format!("/sys/class/net/{n}/master"))
                .map(|m| m.ends_with(BRIDGE))
                .unwrap_or(false)
        })
        .collect();
    names.sort();
    names
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    eprintln!(
        "{what}: n={} p50={:.2?} p99={:.2?} max={:.2?}",
        times.len(),
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        times.last().unwrap()
    );
}

mod scenarios;
