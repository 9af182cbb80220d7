//! The proxy for real: nft and iptables inside a [`Lab`] (network namespaces the test
//! creates and deletes), with packets from a client namespace and from pods. Needs root;
//! opt in with SKIFF_TEST_PRIVILEGED=1 (`deploy/with-test-runtime.sh` sets it). Every
//! case runs once per backend.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use serde_json::json;

use super::lab::{self, Conn, Lab, CLIENT_IP, GATEWAY, NODE_IP, NODE_NAME};
use super::tests::{endpoints, service};
use super::*;

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

const P1: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 11);
const P2: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 12);
const P3: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 13);

fn lab_with_pods(tag: &str, mode: ProxyMode) -> Lab {
    let suffix = match mode {
        ProxyMode::Nftables => "n",
        ProxyMode::Iptables => "i",
    };
    let mut lab = Lab::new(&format!("{tag}{suffix}")).expect("lab");
    for (name, ip) in [("p1", P1), ("p2", P2), ("p3", P3)] {
        lab.add_pod(name, ip).expect("pod");
    }
    lab
}

fn local(ips: &[Ipv4Addr]) -> Vec<(String, &'static str)> {
    ips.iter().map(|ip| (ip.to_string(), NODE_NAME)).collect()
}

fn eps(name: &str, addrs: &[(String, &str)]) -> Endpoints {
    let refs: Vec<(&str, &str)> = addrs.iter().map(|(a, n)| (a.as_str(), *n)).collect();
    endpoints(name, &refs)
}

fn at(ip: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip.parse().unwrap(), port)
}

/// Pod names and client addresses seen over `n` connections.
pub(super) fn ask_many(
    ns: &str,
    to: SocketAddrV4,
    n: usize,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut pods, mut peers) = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..n {
        let answer = lab::tcp_ask(ns, to).unwrap_or_else(|e| panic!("{to}: {e}"));
        let (pod, peer) = answer.split_once(' ').unwrap();
        pods.insert(pod.to_string());
        peers.insert(peer.to_string());
    }
    (pods, peers)
}

pub(super) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn node_port(name: &str, ip: &str, np: u16, extra: serde_json::Value) -> Service {
    let mut spec = json!({"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": np}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    service(name, ip, spec)
}

fn udp_service(name: &str, ip: &str) -> (Service, Endpoints) {
    let svc = service(
        name,
        ip,
        json!({"ports": [{"name": "u", "port": 53, "protocol": "UDP"}]}),
    );
    let eps = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "subsets": [{"addresses": [{"ip": P1.to_string(), "nodeName": NODE_NAME}],
                     "ports": [{"name": "u", "port": 8080, "protocol": "UDP"}]}],
    }))
    .unwrap();
    (svc, eps)
}

/// What the backend put into the node namespace, as text.
fn ruleset(lab: &Lab, mode: ProxyMode) -> String {
    let ns = lab.node_ns();
    let args: Vec<&str> = match mode {
        ProxyMode::Nftables => vec!["netns", "exec", &ns, "nft", "list", "ruleset"],
        ProxyMode::Iptables => vec!["netns", "exec", &ns, "iptables-save"],
    };
    let out = Command::new("ip").args(&args).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

async fn spread_node_port_hairpin(mode: ProxyMode) {
    let lab = lab_with_pods("pxa", mode);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let web = node_port("web", "10.43.0.10", 30080, json!({}));
    let own = service("own", "10.43.0.11", json!({}));
    let (udp, udp_eps) = udp_service("dns", "10.43.0.12");
    p.resync(&[
        (web, Some(eps("web", &local(&[P1, P2, P3])))),
        (own, Some(eps("own", &local(&[P1])))),
        (udp, Some(udp_eps)),
    ])
    .await
    .unwrap();
    let client = lab.client_ns();
    // ClusterIP from outside the pod network: spread, client address kept.
    let (pods, peers) = ask_many(&client, at("10.43.0.10", 80), 30);
    assert_eq!(pods, set(&["p1", "p2", "p3"]));
    assert_eq!(peers, set(&[&CLIENT_IP.to_string()]));
    // NodePort, policy Cluster: spread, masqueraded to the node's bridge address.
    let (pods, peers) = ask_many(&client, SocketAddrV4::new(NODE_IP, 30080), 30);
    assert_eq!(pods, set(&["p1", "p2", "p3"]));
    assert_eq!(peers, set(&[&GATEWAY.to_string()]));
    // Hairpin: p1 reaches itself through its service.
    let answer = lab::tcp_ask(&lab.pod_ns("p1"), at("10.43.0.11", 80)).unwrap();
    assert_eq!(answer, format!("p1 {GATEWAY}"));
    // UDP.
    let answer = lab::udp_ask(&client, at("10.43.0.12", 53)).unwrap();
    assert_eq!(answer, format!("p1 {CLIENT_IP}"));
}

async fn no_endpoints_rejected(mode: ProxyMode) {
    let lab = lab_with_pods("pxb", mode);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let web = node_port("web", "10.43.0.20", 30090, json!({}));
    let (udp, udp_eps) = udp_service("dns", "10.43.0.21");
    p.resync(&[(web.clone(), None), (udp.clone(), None)])
        .await
        .unwrap();
    let client = lab.client_ns();
    for to in [at("10.43.0.20", 80), SocketAddrV4::new(NODE_IP, 30090)] {
        let err = lab::tcp_ask(&client, to).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{to}: {err}");
    }
    let err = lab::udp_ask(&client, at("10.43.0.21", 53)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // Endpoints arrive: the same addresses answer.
    p.update(&web, Some(&eps("web", &local(&[P2]))))
        .await
        .unwrap();
    p.update(&udp, Some(&udp_eps)).await.unwrap();
    assert!(lab::tcp_ask(&client, at("10.43.0.20", 80))
        .unwrap()
        .starts_with("p2 "));
    assert!(lab::tcp_ask(&client, SocketAddrV4::new(NODE_IP, 30090))
        .unwrap()
        .starts_with("p2 "));
    assert!(lab::udp_ask(&client, at("10.43.0.21", 53))
        .unwrap()
        .starts_with("p1 "));
}

async fn affinity_sticks(mode: ProxyMode) {
    let lab = lab_with_pods("pxc", mode);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let sticky = node_port(
        "sticky",
        "10.43.0.30",
        30100,
        json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}}),
    );
    let all = eps("sticky", &local(&[P1, P2, P3]));
    p.resync(&[(sticky.clone(), Some(all.clone()))])
        .await
        .unwrap();
    let client = lab.client_ns();
    let (pods, _) = ask_many(&client, at("10.43.0.30", 80), 15);
    assert_eq!(pods.len(), 1, "{pods:?}");
    let pinned = pods.into_iter().next().unwrap();
    // The pinned pod goes away: the client moves to another one and sticks there.
    let rest: Vec<Ipv4Addr> = [("p1", P1), ("p2", P2), ("p3", P3)]
        .into_iter()
        .filter(|(n, _)| *n != pinned)
        .map(|(_, ip)| ip)
        .collect();
    p.update(&sticky, Some(&eps("sticky", &local(&rest))))
        .await
        .unwrap();
    let (pods, _) = ask_many(&client, at("10.43.0.30", 80), 15);
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert!(!pods.contains(&pinned));
}

async fn local_policy_keeps_client_address(mode: ProxyMode) {
    let lab = lab_with_pods("pxd", mode);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let svc = node_port(
        "loc",
        "10.43.0.40",
        30110,
        json!({"externalTrafficPolicy": "Local"}),
    );
    // p2 counts as another node's pod: NodePort traffic must not reach it.
    let addrs = vec![(P1.to_string(), NODE_NAME), (P2.to_string(), "other-node")];
    p.resync(&[(svc, Some(eps("loc", &addrs)))]).await.unwrap();
    let (pods, peers) = ask_many(&lab.client_ns(), SocketAddrV4::new(NODE_IP, 30110), 12);
    assert_eq!(pods, set(&["p1"]));
    assert_eq!(peers, set(&[&CLIENT_IP.to_string()]));
}

async fn localhost_node_port(mode: ProxyMode) {
    let lab = lab_with_pods("pxe", mode);
    let mut cfg = lab.proxy_config(mode);
    cfg.nodeport_localhost = true;
    let mut p = Proxier::with_exec(cfg, lab.exec()).unwrap();
    let svc = node_port("web", "10.43.0.50", 30120, json!({}));
    p.resync(&[(svc, Some(eps("web", &local(&[P3]))))])
        .await
        .unwrap();
    let answer = lab::tcp_ask(&lab.node_ns(), at("127.0.0.1", 30120)).unwrap();
    assert_eq!(answer, format!("p3 {GATEWAY}"));
}

async fn update_resync_restart(mode: ProxyMode) {
    let lab = lab_with_pods("pxf", mode);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let a = node_port("a", "10.43.0.60", 30130, json!({}));
    let b = service("b", "10.43.0.61", json!({}));
    let all = vec![
        (a.clone(), Some(eps("a", &local(&[P1, P2])))),
        (b.clone(), Some(eps("b", &local(&[P3])))),
    ];
    p.resync(&all).await.unwrap();
    let client = lab.client_ns();
    let mut conn = Conn::open(&client, at("10.43.0.60", 80)).unwrap();
    let first = conn.ask().unwrap();
    // nft prints several elements per line: compare a's elements, not lines.
    let of_a = |rules: &str| -> Vec<String> {
        rules
            .split(['\n', ',', '{', '}'])
            .map(str::trim)
            .filter(|l| l.contains("10.43.0.60") || l.contains("30130"))
            .map(str::to_string)
            .collect()
    };
    let before = ruleset(&lab, mode);
    assert!(!of_a(&before).is_empty());
    // b changes: a's rules stay as they were, and its connection keeps working.
    p.update(&b, Some(&eps("b", &local(&[P2, P3]))))
        .await
        .unwrap();
    let after = ruleset(&lab, mode);
    assert_ne!(before, after);
    assert_eq!(of_a(&before), of_a(&after));
    let (pods, _) = ask_many(&client, at("10.43.0.61", 80), 20);
    assert_eq!(pods, set(&["p2", "p3"]));
    // An agent restart: a fresh proxier resyncs the same services; again is a no-op.
    let b2 = eps("b", &local(&[P2, P3]));
    let all = vec![
        (a.clone(), Some(eps("a", &local(&[P1, P2])))),
        (b, Some(b2)),
    ];
    drop(p);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    p.resync(&all).await.unwrap();
    let once = ruleset(&lab, mode);
    p.resync(&all).await.unwrap();
    assert_eq!(once, ruleset(&lab, mode));
    assert_eq!(
        conn.ask().unwrap(),
        first,
        "established connection survives"
    );
    let (pods, _) = ask_many(&client, at("10.43.0.60", 80), 20);
    assert_eq!(pods, set(&["p1", "p2"]));
    // Removal: the address no longer answers as a service.
    p.remove("default", "a").await.unwrap();
    assert!(of_a(&ruleset(&lab, mode)).is_empty());
}

async fn cleanup_leaves_nothing(mode: ProxyMode) {
    let lab = lab_with_pods("pxg", mode);
    let empty = ruleset(&lab, mode);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let a = node_port(
        "a",
        "10.43.0.70",
        30140,
        json!({"sessionAffinity": "ClientIP"}),
    );
    let b = service("b", "10.43.0.71", json!({}));
    p.resync(&[(a, Some(eps("a", &local(&[P1])))), (b, None)])
        .await
        .unwrap();
    assert!(lab::tcp_ask(&lab.client_ns(), at("10.43.0.70", 80)).is_ok());
    let exec = lab.exec();
    cleanup(exec.as_ref(), nft::DEFAULT_TABLE).await.unwrap();
    let left = ruleset(&lab, mode);
    assert!(!left.contains("skiff") && !left.contains("SKIFF"), "{left}");
    if mode == ProxyMode::Nftables {
        assert_eq!(left, empty);
    }
    // Twice is fine.
    cleanup(exec.as_ref(), nft::DEFAULT_TABLE).await.unwrap();
}

/// Someone removes the proxy's rules behind its back: the next update fails, and the
/// one after resyncs everything.
async fn recovers_after_outside_damage(mode: ProxyMode) {
    let lab = lab_with_pods("pxj", mode);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let a = service("a", "10.43.0.90", json!({}));
    let b = service("b", "10.43.0.91", json!({}));
    p.resync(&[(a, Some(eps("a", &local(&[P1])))), (b.clone(), None)])
        .await
        .unwrap();
    let ns = lab.node_ns();
    let damage: &[&str] = match mode {
        ProxyMode::Nftables => &["nft", "delete", "table", "ip", "skiff_proxy"],
        ProxyMode::Iptables => &["iptables", "-t", "filter", "-F", "SKIFF-REJECT"],
    };
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .args(damage)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(p.update(&b, Some(&eps("b", &local(&[P2])))).await.is_err());
    p.update(&b, Some(&eps("b", &local(&[P2])))).await.unwrap();
    let client = lab.client_ns();
    assert!(lab::tcp_ask(&client, at("10.43.0.90", 80))
        .unwrap()
        .starts_with("p1 "));
    assert!(lab::tcp_ask(&client, at("10.43.0.91", 80))
        .unwrap()
        .starts_with("p2 "));
}

/// iptables first, then nftables (and back): the old mode's rules go, traffic flows.
#[tokio::test]
async fn switching_modes_removes_the_other() {
    if !privileged() {
        return;
    }
    let lab = lab_with_pods("pxh", ProxyMode::Nftables);
    let svc = node_port("a", "10.43.0.80", 30150, json!({}));
    let all = [(svc, Some(eps("a", &local(&[P1]))))];
    for (from, to) in [
        (ProxyMode::Iptables, ProxyMode::Nftables),
        (ProxyMode::Nftables, ProxyMode::Iptables),
    ] {
        let mut old = Proxier::with_exec(lab.proxy_config(from), lab.exec()).unwrap();
        old.resync(&all).await.unwrap();
        let mut new = Proxier::with_exec(lab.proxy_config(to), lab.exec()).unwrap();
        new.resync(&all).await.unwrap();
        let left = ruleset(&lab, from);
        match from {
            ProxyMode::Iptables => assert!(!left.contains("SKIFF"), "{left}"),
            ProxyMode::Nftables => assert!(!left.contains("skiff_proxy"), "{left}"),
        }
        let answer = lab::tcp_ask(&lab.client_ns(), at("10.43.0.80", 80)).unwrap();
        assert!(answer.starts_with("p1 "), "{answer}");
    }
}

macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod nftables {
            $(
                #[tokio::test]
                async fn $case() {
                    if super::privileged() {
                        super::$case(super::ProxyMode::Nftables).await;
                    }
                }
            )*
        }
        mod iptables {
            $(
                #[tokio::test]
                async fn $case() {
                    if super::privileged() {
                        super::$case(super::ProxyMode::Iptables).await;
                    }
                }
            )*
        }
    };
}

/// A UDP client that keeps sending from one socket moves to the remaining endpoint
/// when its own leaves the service (its conntrack entry is deleted).
async fn udp_flow_follows_endpoint_change(mode: ProxyMode) {
    if !on_path("conntrack") {
        crate::test_support::skip("conntrack is not installed (deploy/install-deps.sh)");
        return;
    }
    let lab = lab_with_pods("pxu", mode);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let (udp, udp_eps) = udp_service("dns", "10.43.0.30");
    p.resync(&[(udp.clone(), Some(udp_eps))]).await.unwrap();
    let sock = lab::in_netns(&lab.client_ns(), || {
        std::net::UdpSocket::bind(std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
    })
    .unwrap();
    sock.connect(at("10.43.0.30", 53)).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let ask = || {
        sock.send(b"hi\n").unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n])
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(ask(), "p1");
    let moved: Endpoints = serde_json::from_value(json!({
        "metadata": {"name": "dns", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": P2.to_string(), "nodeName": NODE_NAME}],
                     "ports": [{"name": "u", "port": 8080, "protocol": "UDP"}]}],
    }))
    .unwrap();
    p.update(&udp, Some(&moved)).await.unwrap();
    // p1 still runs: without the delete, the flow's entry would keep sending it there.
    assert_eq!(ask(), "p2");
}

both_backends!(
    udp_flow_follows_endpoint_change,
    spread_node_port_hairpin,
    no_endpoints_rejected,
    affinity_sticks,
    local_policy_keeps_client_address,
    localhost_node_port,
    update_resync_restart,
    cleanup_leaves_nothing,
    recovers_after_outside_damage,
);
