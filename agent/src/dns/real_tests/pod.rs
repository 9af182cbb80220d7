//! A pod resolves names through the server on its bridge gateway, with the resolv.conf
//! the agent writes for it: busybox `nslookup` in a real network namespace on a test
//! bridge. Needs root; opt in with SKIFF_TEST_PRIVILEGED=1. Everything lives on a bridge
//! (`skdns0`), CIDR (10.97.0.0/24), nft table (`skiff_dnstest`) and namespace of this
//! test's own, removed on drop even when the test fails. Other names go to an upstream
//! the test runs on 127.0.0.1.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use super::start_upstream;
use crate::dns::tests::{endpoints, sample};
use crate::dns::{DnsConfig, DnsServer};
use crate::network::{
    write_pod_files_from, ClusterDns, NetworkConfig, NodeFiles, PodDns, PodFiles, PodNetwork,
};

const BRIDGE: &str = "skdns0";
const TABLE: &str = "skiff_dnstest";
const CIDR: &str = "10.97.0.0/24";

fn privileged() -> bool {
    if crate::test_support::test_env("SKIFF_TEST_PRIVILEGED").is_none() {
        return false;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "SKIFF_TEST_PRIVILEGED=1 needs root"
    );
    true
}

/// The test's namespace, bridge and table, removed on drop.
struct Scratch {
    netns: String,
}

impl Scratch {
    fn new() -> Self {
        let s = Scratch {
            netns: format!("skdns{}", std::process::id() % 100_000),
        };
        s.scrub();
        let ok = |args: &[&str]| {
            let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
        };
        ok(&["ip", "netns", "add", &s.netns]);
        ok(&["ip", "-n", &s.netns, "link", "set", "lo", "up"]);
        s
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.netns)
    }

    /// Plain commands, so it also runs while a failed test unwinds inside the runtime.
    /// Deleting the namespace deletes the pod's veth pair with it.
    fn scrub(&self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new(args[0]).args(&args[1..]).output();
        };
        quiet(&["ip", "netns", "del", &self.netns]);
        if Path::new("/sys/class/net").join(BRIDGE).exists() {
            quiet(&["ip", "link", "del", BRIDGE]);
        }
        quiet(&["nft", "delete", "table", "ip", TABLE]);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.scrub();
    }
}

/// `busybox nslookup <name>` inside the pod's namespace, with `resolv` mounted on
/// `/etc/resolv.conf` in a mount namespace of its own (the host's file is untouched).
fn nslookup(netns: &Path, resolv: &Path, name: &str) -> (bool, String) {
    let script = format!(
        "mount --bind {} /etc/resolv.conf && exec busybox nslookup {name}",
        resolv.display()
    );
    let out = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
        .arg(script)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_resolves_through_the_gateway_with_its_resolv_conf() {
    if !privileged() {
        return;
    }
    let scratch = tokio::task::spawn_blocking(Scratch::new).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NetworkConfig::new(CIDR.parse().unwrap(), dir.path().join("network"));
    cfg.bridge = BRIDGE.into();
    cfg.nft_table = TABLE.into();
    let network = PodNetwork::init(cfg).await.unwrap();
    let addr = network.setup("dns-pod", &scratch.path()).await.unwrap();
    let gateway = network.gateway();

    let upstream = start_upstream().await;
    let records = sample();
    let config = DnsConfig {
        listen: vec![SocketAddr::new(IpAddr::V4(gateway), 53)],
        upstreams: vec![upstream.addr],
        ..DnsConfig::default()
    };
    let server = DnsServer::start(config, records.clone()).await.unwrap();

    // The pod's resolv.conf as the agent writes it for a ClusterFirst pod in `default`.
    let node = NodeFiles {
        hosts: dir.path().join("node-hosts"),
        resolv: dir.path().join("node-resolv"),
        resolved_upstream: dir.path().join("node-resolved"),
    };
    std::fs::write(&node.resolv, "nameserver 127.0.0.53\nsearch corp.example\n").unwrap();
    let pod_dir = dir.path().join("pod");
    let files = PodFiles {
        name: "client",
        hostname: "client",
        ip: Some(IpAddr::V4(addr.ip)),
        host_network: false,
        dns: PodDns {
            namespace: "default",
            ..PodDns::default()
        },
    };
    let cluster = ClusterDns {
        nameserver: IpAddr::V4(gateway),
        domain: "cluster.local".into(),
    };
    write_pod_files_from(&node, &pod_dir, &files, Some(&cluster)).unwrap();
    let resolv = pod_dir.join("resolv.conf");
    let written = std::fs::read_to_string(&resolv).unwrap();
    assert!(
        written.starts_with(&format!("nameserver {gateway}\n")),
        "{written}"
    );

    let netns = scratch.path();
    let run = move |name: &'static str| {
        let (netns, resolv) = (netns.clone(), resolv.clone());
        tokio::task::spawn_blocking(move || nslookup(&netns, &resolv, name))
    };

    // A short service name, through the search path. busybox tries every search domain
    // and fails when any of them does, so its output is what counts here.
    let (_, out) = run("web").await.unwrap();
    assert!(
        out.contains("Name:\tweb.default.svc.cluster.local\nAddress: 10.43.0.10\n"),
        "{out}"
    );
    // A headless service of another namespace (busybox searches only dotless names).
    let (_, out) = run("db.apps.svc.cluster.local").await.unwrap();
    assert!(
        out.contains("Name:\tdb.apps.svc.cluster.local\nAddress: 10.42.0.7\n"),
        "{out}"
    );
    assert!(out.contains("Address: 10.42.1.8\n"), "{out}");
    // A named port by SRV.
    let (ok, out) = run("-type=srv _http._tcp.web.default.svc.cluster.local")
        .await
        .unwrap();
    assert!(
        ok && out.contains(
            "_http._tcp.web.default.svc.cluster.local\tservice = 0 100 80 web.default.svc.cluster.local"
        ),
        "{out}"
    );
    // An ExternalName, chased through the upstream.
    let (ok, out) = run("ext.default.svc.cluster.local").await.unwrap();
    assert!(
        ok && out.contains("ext.default.svc.cluster.local\tcanonical name = example.test"),
        "{out}"
    );
    assert!(out.contains("192.0.2.10"), "{out}");
    // Outside names are forwarded to the node's upstream.
    let (ok, out) = run("www.example.test").await.unwrap();
    assert!(ok && out.contains("192.0.2.10"), "{out}");
    // Unknown names fail.
    let (ok, out) = run("nope.default.svc.cluster.local").await.unwrap();
    assert!(!ok, "{out}");
    assert!(out.to_ascii_uppercase().contains("NXDOMAIN"), "{out}");

    // A headless endpoint added while the pod runs shows at the next lookup.
    records.upsert_endpoints(&endpoints(
        "apps",
        "db",
        json!([{"addresses": [{"ip": "10.42.2.2", "hostname": "db-1"}]}]),
    ));
    let (ok, out) = run("db-1.db.apps.svc.cluster.local").await.unwrap();
    assert!(ok && out.contains("10.42.2.2"), "{out}");

    server.shutdown().await;
    network.teardown("dns-pod").await.unwrap();
    drop(upstream);
    tokio::task::spawn_blocking(move || drop(scratch))
        .await
        .unwrap();
}
