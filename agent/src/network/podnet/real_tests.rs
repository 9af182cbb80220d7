//! The pod network across nodes for real: "node" network namespaces on a test switch,
//! each with the agent's real bridge, a pod namespace, and the routes this module's sync
//! programs, run inside the node's namespace (a thread that setns'es into the NET
//! namespace only). Needs root; opt in with SKIFF_TEST_PRIVILEGED=1.
//!
//! Everything lives in namespaces the test creates (names carry the test's pid), so
//! deleting them on drop removes every device, route and nft table, also when a test
//! fails. Traffic only flows between those namespaces.

use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sched::CloneFlags;

use super::*;
use crate::network::{NetworkConfig, PodNetwork};

// Opted in with SKIFF_TEST_PRIVILEGED=1 (required under CI=true), as the pod network's
// other real tests.
use crate::network::real_tests::{privileged, sh};

/// Runs `f` on a thread inside the namespace `ns` (network namespace only) with its own
/// runtime; every netlink socket, `nft` child and /proc/sys write of `f` is in there.
fn in_netns<F, Fut, T>(ns: &str, f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap();
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
    .join()
    .unwrap()
}

static LAB_SEQ: AtomicU32 = AtomicU32::new(0);

/// One test node: its namespace, address, pod CIDR, one pod, and its sync.
struct LabNode {
    ns: String,
    ip: Ipv4Addr,
    pod_cidr: ipnet::Ipv4Net,
    pod_ns: String,
    pod_ip: Ipv4Addr,
    sync: Option<PodnetSync>,
    _state: tempfile::TempDir,
}

/// A switch namespace with bridges `br1` (172.31.1.0/24) and `br2` (172.31.2.0/24),
/// routing between them, and nodes attached to either. Dropped, it deletes every
/// namespace it made.
struct Lab {
    tag: String,
    switch: String,
    namespaces: Vec<String>,
    nodes: Vec<LabNode>,
}

impl Lab {
    fn new() -> Lab {
        let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = format!("skpn{}x{seq}", std::process::id() % 100_000);
        let switch = format!("{tag}s");
        let mut lab = Lab {
            tag,
            switch: switch.clone(),
            namespaces: Vec::new(),
            nodes: Vec::new(),
        };
        lab.netns(&switch);
        for (br, ip) in [("br1", "172.31.1.254/24"), ("br2", "172.31.2.254/24")] {
            sh(&["ip", "-n", &switch, "link", "add", br, "type", "bridge"]);
            sh(&["ip", "-n", &switch, "addr", "add", ip, "dev", br]);
            sh(&["ip", "-n", &switch, "link", "set", br, "up"]);
        }
        let switch_net = format!("--net=/run/netns/{switch}");
        sh(&[
            "nsenter",
            &switch_net,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        lab
    }

    fn netns(&mut self, name: &str) {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        sh(&["ip", "netns", "add", name]);
        self.namespaces.push(name.to_string());
        sh(&["ip", "-n", name, "link", "set", "lo", "up"]);
    }

    /// Adds node `i` (1-based) on `subnet` (1 or 2) with pod CIDR 10.244.i.0/24, its pod
    /// network and one pod, and (not yet synced) its pod network across nodes.
    fn add_node(&mut self, i: u8, subnet: u8, backend: Backend) -> usize {
        self.netns(&format!("{}n{i}", self.tag));
        self.add_node_in_existing_ns(i, subnet, backend)
    }

    /// [`Self::add_node`] in a node namespace made before.
    fn add_node_in_existing_ns(&mut self, i: u8, subnet: u8, backend: Backend) -> usize {
        let ns = format!("{}n{i}", self.tag);
        let pod_ns = format!("{}p{i}", self.tag);
        self.netns(&pod_ns);
        let ip = Ipv4Addr::new(172, 31, subnet, 10 + i);
        let port = format!("n{i}");
        sh(&[
            "ip",
            "-n",
            &ns,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            &self.switch,
        ]);
        sh(&[
            "ip",
            "-n",
            &self.switch,
            "link",
            "set",
            &port,
            "master",
            &format!("br{subnet}"),
            "up",
        ]);
        sh(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth0",
        ]);
        sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        sh(&[
            "ip",
            "-n",
            &ns,
            "route",
            "add",
            "default",
            "via",
            &format!("172.31.{subnet}.254"),
        ]);

        let state = tempfile::tempdir().unwrap();
        let pod_cidr: ipnet::Ipv4Net = format!("10.244.{i}.0/24").parse().unwrap();
        let mut cfg = NetworkConfig::new(pod_cidr, state.path().join("network"));
        cfg.cluster_cidr = Some("10.244.0.0/16".parse().unwrap());
        let mtu = match backend {
            Backend::Vxlan => 1500 - VXLAN_OVERHEAD,
            Backend::HostGw => 1500,
        };
        cfg.mtu = Some(mtu);
        let local = LocalNode {
            name: format!("node{i}"),
            node_ip: ip,
            pod_cidr,
            cluster_cidr: "10.244.0.0/16".parse().unwrap(),
            backend,
            vxlan_device: VXLAN_DEVICE.into(),
        };
        let netns_path = std::path::PathBuf::from(format!("/run/netns/{pod_ns}"));
        let (pod_ip, sync) = in_netns(&ns, move || async move {
            let net = PodNetwork::init(cfg).await.unwrap();
            let addr = net.setup("pod-uid", &netns_path).await.unwrap();
            let mut sync = PodnetSync::new(Arc::new(HostPodnetOps), local, "skiff0", mtu);
            sync.ensure_device().await;
            (addr.ip, sync)
        });
        self.nodes.push(LabNode {
            ns,
            ip,
            pod_cidr,
            pod_ns,
            pod_ip,
            sync: Some(sync),
            _state: state,
        });
        self.nodes.len() - 1
    }

    fn peers(&self) -> Vec<Peer> {
        self.nodes
            .iter()
            .map(|n| Peer {
                name: n.sync.as_ref().unwrap().local().name.clone(),
                node_ip: Some(n.ip),
                pod_cidr: Some(n.pod_cidr),
                vtep_mac: n.sync.as_ref().unwrap().vtep_mac(),
            })
            .collect()
    }

    /// Syncs node `idx` to `peers` inside its namespace.
    fn sync(&mut self, idx: usize, peers: Vec<Peer>) -> SyncReport {
        let node = &mut self.nodes[idx];
        let mut sync = node.sync.take().unwrap();
        let (sync, report) = in_netns(&node.ns, move || async move {
            let report = sync.sync(&peers).await.unwrap();
            (sync, report)
        });
        node.sync = Some(sync);
        report
    }

    fn sync_all(&mut self) -> Vec<SyncReport> {
        let peers = self.peers();
        (0..self.nodes.len())
            .map(|i| self.sync(i, peers.clone()))
            .collect()
    }

    fn ip(&self, idx: usize, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", &self.nodes[idx].ns];
        full.extend_from_slice(args);
        sh(&full)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A TCP server in `server_ns` on `ip:port`; a client in `client_ns` sends a line, the
/// server answers with the source address it saw. Returns that address.
fn source_seen(server_ns: &str, ip: Ipv4Addr, client_ns: &str) -> Ipv4Addr {
    let (tx, rx) = std::sync::mpsc::channel();
    let server_path = format!("/run/netns/{server_ns}");
    let server = std::thread::spawn(move || {
        nix::sched::setns(File::open(server_path).unwrap(), CloneFlags::CLONE_NEWNET).unwrap();
        let listener = TcpListener::bind((ip, 0)).unwrap();
        tx.send(listener.local_addr().unwrap().port()).unwrap();
        let (mut conn, peer) = listener.accept().unwrap();
        let mut line = [0u8; 5];
        conn.read_exact(&mut line).unwrap();
        conn.write_all(peer.ip().to_string().as_bytes()).unwrap();
    });
    let port = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let client_path = format!("/run/netns/{client_ns}");
    let seen = std::thread::spawn(move || {
        nix::sched::setns(File::open(client_path).unwrap(), CloneFlags::CLONE_NEWNET).unwrap();
        let mut conn =
            TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connect to {ip}:{port}: {e}"));
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(b"hello").unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    })
    .join()
    .unwrap();
    server.join().unwrap();
    seen.parse().unwrap()
}

/// ICMP echo from `from_ns` to `to`, with busybox's ping (Debian's busybox-static, which
/// the test images are built from).
fn ping(from_ns: &str, to: Ipv4Addr) -> bool {
    Command::new("nsenter")
        .args([
            &format!("--net=/run/netns/{from_ns}"),
            "busybox",
            "ping",
            "-c1",
            "-W2",
        ])
        .arg(to.to_string())
        .output()
        .unwrap()
        .status
        .success()
}

/// Pod on node 0 ↔ pod on node 1: ping, and TCP both ways with source addresses kept.
fn assert_pods_talk(lab: &Lab) {
    let (a, b) = (&lab.nodes[0], &lab.nodes[1]);
    assert!(
        ping(&a.pod_ns, b.pod_ip),
        "ping {} → {}",
        a.pod_ip,
        b.pod_ip
    );
    assert_eq!(source_seen(&b.pod_ns, b.pod_ip, &a.pod_ns), a.pod_ip);
    assert_eq!(source_seen(&a.pod_ns, a.pod_ip, &b.pod_ns), b.pod_ip);
}

#[test]
fn vxlan_across_a_router_keeps_pod_addresses() {
    if !privileged() {
        return;
    }
    let mut lab = Lab::new();
    lab.add_node(1, 1, Backend::Vxlan);
    lab.add_node(2, 2, Backend::Vxlan);
    for report in lab.sync_all() {
        assert_eq!(report.problems, []);
    }
    let routes = lab.ip(0, &["route", "show", "proto", &ROUTE_PROTOCOL.to_string()]);
    assert!(
        routes.contains("10.244.2.0/24 via 10.244.2.0 dev skiff.1 onlink"),
        "{routes}"
    );
    let fdb = sh(&[
        "bridge",
        "-n",
        &lab.nodes[0].ns,
        "fdb",
        "show",
        "dev",
        "skiff.1",
    ]);
    assert!(fdb.contains("dst 172.31.2.12"), "{fdb}");
    let link = lab.ip(0, &["-d", "link", "show", "skiff.1"]);
    assert!(
        link.contains("vxlan id 1") && link.contains("dstport 8472") && link.contains("mtu 1450"),
        "{link}"
    );
    assert!(link.contains("nolearning"), "{link}");
    assert_pods_talk(&lab);
}

#[test]
fn direct_routing_and_host_gw_on_one_network() {
    if !privileged() {
        return;
    }
    for backend in [Backend::Vxlan, Backend::HostGw] {
        let mut lab = Lab::new();
        lab.add_node(1, 1, backend);
        lab.add_node(2, 1, backend);
        for report in lab.sync_all() {
            assert_eq!(report.problems, [], "{backend:?}");
        }
        let routes = lab.ip(0, &["route", "show", "proto", &ROUTE_PROTOCOL.to_string()]);
        assert!(
            routes.contains("10.244.2.0/24 via 172.31.1.12 dev eth0"),
            "{backend:?}: {routes}"
        );
        assert_pods_talk(&lab);
    }
}

#[test]
fn host_gw_reports_a_peer_behind_a_router_instead_of_black_holing() {
    if !privileged() {
        return;
    }
    let mut lab = Lab::new();
    lab.add_node(1, 1, Backend::HostGw);
    lab.add_node(2, 2, Backend::HostGw);
    let reports = lab.sync_all();
    assert_eq!(reports[0].problems.len(), 1);
    assert_eq!(reports[0].problems[0].reason, "NoDirectRoute");
    let routes = lab.ip(0, &["route", "show", "proto", &ROUTE_PROTOCOL.to_string()]);
    assert_eq!(routes.trim(), "");
    // The node's own pod still reaches its node.
    let (node, pod) = (&lab.nodes[0], &lab.nodes[0].pod_ns);
    let gateway = "10.244.1.1".parse().unwrap();
    assert_eq!(source_seen(&node.ns, gateway, pod), node.pod_ip);
}

#[test]
fn churn_leaves_only_live_peers_and_cleanup_removes_everything() {
    if !privileged() {
        return;
    }
    let mut lab = Lab::new();
    lab.add_node(1, 1, Backend::Vxlan);
    lab.add_node(2, 2, Backend::Vxlan);
    lab.add_node(3, 1, Backend::Vxlan);
    // A route someone else made: no sync or cleanup touches it.
    lab.ip(0, &["route", "add", "10.77.0.0/24", "via", "172.31.1.254"]);
    let real = lab.peers();
    let synthetic = |round: u8| -> Vec<Peer> {
        (0..10)
            .map(|k| Peer {
                name: format!("ghost{round}-{k}"),
                node_ip: Some(Ipv4Addr::new(172, 31, 9, 10 + k)),
                pod_cidr: Some(format!("10.244.{}.0/24", 100 + k).parse().unwrap()),
                vtep_mac: Some([2, 0xee, round, k, 0, 1]),
            })
            .collect()
    };
    for round in 0..10u8 {
        let mut peers = real.clone();
        peers.extend(synthetic(round));
        let report = lab.sync(0, peers);
        assert_eq!(report.problems, []);
        lab.sync(0, real.clone());
    }
    let proto = ROUTE_PROTOCOL.to_string();
    let routes = lab.ip(0, &["route", "show", "proto", &proto]);
    assert_eq!(routes.lines().count(), 2, "{routes}");
    let fdb = sh(&[
        "bridge",
        "-n",
        &lab.nodes[0].ns,
        "fdb",
        "show",
        "dev",
        "skiff.1",
    ]);
    assert_eq!(
        fdb.lines().filter(|l| l.contains("dst")).count(),
        1,
        "{fdb}"
    );
    let neigh = lab.ip(0, &["neigh", "show", "dev", "skiff.1"]);
    assert_eq!(neigh.lines().count(), 1, "{neigh}");
    lab.sync(1, real.clone());
    lab.sync(2, real.clone());
    assert_pods_talk(&lab);

    // cleanup: our routes and device gone, the other route kept.
    let removed = in_netns(&lab.nodes[0].ns, || async {
        remove_all(&HostPodnetOps, VXLAN_DEVICE).await.unwrap()
    });
    assert_eq!(removed, 3);
    assert_eq!(lab.ip(0, &["route", "show", "proto", &proto]).trim(), "");
    assert!(!lab.ip(0, &["link", "show"]).contains("skiff.1"));
    assert!(lab
        .ip(0, &["route", "show"])
        .contains("10.77.0.0/24 via 172.31.1.254"));
}

#[test]
fn a_vxlan_port_in_use_is_reported_and_the_nodes_pods_keep_working() {
    if !privileged() {
        return;
    }
    let mut lab = Lab::new();
    // Something else holds UDP 8472 in node 1's namespace before its agent starts.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder_ns = format!("/run/netns/{}n1", lab.tag);
    lab.netns(&format!("{}n1", lab.tag));
    let holder = std::thread::spawn(move || {
        nix::sched::setns(File::open(holder_ns).unwrap(), CloneFlags::CLONE_NEWNET).unwrap();
        let socket = std::net::UdpSocket::bind(("0.0.0.0", VXLAN_PORT)).unwrap();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
        drop(socket);
    });
    held_rx.recv().unwrap();
    lab.add_node_in_existing_ns(1, 1, Backend::Vxlan);
    lab.add_node(2, 2, Backend::Vxlan);
    let error = lab.nodes[0]
        .sync
        .as_ref()
        .unwrap()
        .vxlan_error()
        .map(str::to_string);
    let error = error.expect("the vxlan device came up on a taken port");
    assert!(error.contains("8472"), "{error}");
    let reports = lab.sync_all();
    assert!(
        reports[0]
            .problems
            .iter()
            .any(|p| p.reason == "VxlanUnavailable"),
        "{:?}",
        reports[0].problems
    );
    // The node's own pod still reaches its node.
    let node = &lab.nodes[0];
    let gateway = "10.244.1.1".parse().unwrap();
    assert_eq!(source_seen(&node.ns, gateway, &node.pod_ns), node.pod_ip);
    // The port freed, the next sync makes the device and the tunnel.
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let peers = lab.peers();
    let report = lab.sync(0, peers);
    assert_eq!(report.problems, []);
    let peers = lab.peers();
    lab.sync(1, peers);
    assert_pods_talk(&lab);
}
