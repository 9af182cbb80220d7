//! LoadBalancer ingress and externalIPs for real, in a [`Lab`]: the service port answers
//! on the node's own address (what the control plane writes into the ingress) and on an
//! external address routed to the node. Needs root; opt in with SKIFF_TEST_PRIVILEGED=1.

use std::net::{Ipv4Addr, SocketAddrV4};

use serde_json::json;

use super::lab::{self, Lab, CLIENT_IP, GATEWAY, NODE_IP, NODE_NAME};
use super::real_tests::{ask_many, set};
use super::tests::{endpoints, service};
use super::*;

const P1: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 21);
const P2: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 22);
/// An externalIP: the lab's client routes everything to the node.
const EXTERNAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);

fn privileged() -> bool {
    crate::test_support::test_env("SKIFF_TEST_PRIVILEGED").is_some()
}

fn load_balancer(
    name: &str,
    ip: &str,
    port: u16,
    policy: &str,
) -> k8s_openapi::api::core::v1::Service {
    let mut svc = service(
        name,
        ip,
        json!({"type": "LoadBalancer", "externalTrafficPolicy": policy,
               "externalIPs": [EXTERNAL.to_string()],
               "ports": [{"name": "http", "port": port, "targetPort": 8080}]}),
    );
    svc.status =
        serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": NODE_IP.to_string()}]}}))
            .unwrap();
    svc
}

async fn answers_on_ingress_and_external_ips(mode: ProxyMode) {
    let tag = match mode {
        ProxyMode::Nftables => "pxlbn",
        ProxyMode::Iptables => "pxlbi",
    };
    let mut lab = Lab::new(tag).expect("lab");
    lab.add_pod("p1", P1).expect("pod");
    lab.add_pod("p2", P2).expect("pod");
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let both = [(P1.to_string(), NODE_NAME), (P2.to_string(), NODE_NAME)];
    let both: Vec<(&str, &str)> = both.iter().map(|(a, n)| (a.as_str(), *n)).collect();
    // p2 counts as another node's pod for the Local service.
    let split = [(P1.to_string(), NODE_NAME), (P2.to_string(), "other-node")];
    let split: Vec<(&str, &str)> = split.iter().map(|(a, n)| (a.as_str(), *n)).collect();
    p.resync(&[
        (
            load_balancer("lb", "10.43.0.90", 80, "Cluster"),
            Some(endpoints("lb", &both)),
        ),
        (
            load_balancer("lbl", "10.43.0.91", 81, "Local"),
            Some(endpoints("lbl", &split)),
        ),
    ])
    .await
    .unwrap();
    // Policy Cluster: both pods, from the node's address and from the external one,
    // masqueraded (the reply must come back through this node).
    for addr in [NODE_IP, EXTERNAL] {
        let (pods, peers) = ask_many(&lab.client_ns(), SocketAddrV4::new(addr, 80), 24);
        assert_eq!(pods, set(&["p1", "p2"]), "{addr}");
        assert_eq!(peers, set(&[&GATEWAY.to_string()]), "{addr}");
    }
    // Policy Local: only the local pod, and it sees the client's own address.
    for addr in [NODE_IP, EXTERNAL] {
        let (pods, peers) = ask_many(&lab.client_ns(), SocketAddrV4::new(addr, 81), 12);
        assert_eq!(pods, set(&["p1"]), "{addr}");
        assert_eq!(peers, set(&[&CLIENT_IP.to_string()]), "{addr}");
    }
    // The ingress goes away with the status: the port stops answering on the node address.
    let mut gone = load_balancer("lb", "10.43.0.90", 80, "Cluster");
    gone.status = None;
    gone.spec.as_mut().unwrap().external_ips = None;
    p.update(&gone, Some(&endpoints("lb", &both)))
        .await
        .unwrap();
    assert!(lab::tcp_ask(&lab.client_ns(), SocketAddrV4::new(NODE_IP, 80)).is_err());
}

#[tokio::test]
async fn nftables_answers_on_ingress_and_external_ips() {
    if privileged() {
        answers_on_ingress_and_external_ips(ProxyMode::Nftables).await;
    }
}

#[tokio::test]
async fn iptables_answers_on_ingress_and_external_ips() {
    if privileged() {
        answers_on_ingress_and_external_ips(ProxyMode::Iptables).await;
    }
}
