//! A ClusterIP whose endpoint is an address of the node itself, as the `kubernetes`
//! Service is when the control plane runs beside the agent: a pod reaches it, in a
//! [`Lab`]. Needs root; opt in with SKIFF_TEST_PRIVILEGED=1.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

use serde_json::json;

use super::lab::{self, Lab, NODE_IP};
use super::tests::service;
use super::*;

const P1: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 31);
/// The API's port on the node, behind the Service's 443.
const API_PORT: u16 = 6443;

fn privileged() -> bool {
    crate::test_support::test_env("SKIFF_TEST_PRIVILEGED").is_some()
}

/// Answers one connection's line with `api <peer address>`.
fn serve_once(listener: TcpListener) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        if let Ok((stream, peer)) = listener.accept() {
            let mut w = stream.try_clone().expect("clone");
            let mut line = String::new();
            let _ = BufReader::new(stream).read_line(&mut line);
            let _ = writeln!(w, "api {}", peer.ip());
        }
    })
}

async fn a_pod_reaches_an_endpoint_on_the_node(mode: ProxyMode) {
    let tag = match mode {
        ProxyMode::Nftables => "pxken",
        ProxyMode::Iptables => "pxkei",
    };
    let mut lab = Lab::new(tag).expect("lab");
    lab.add_pod("p1", P1).expect("pod");
    let at = SocketAddrV4::new(NODE_IP, API_PORT);
    let listener = lab::in_netns(&lab.node_ns(), move || TcpListener::bind(at)).expect("bind");
    let server = serve_once(listener);
    let mut p = Proxier::with_exec(lab.proxy_config(mode), lab.exec()).unwrap();
    let kubernetes = service(
        "kubernetes",
        "10.43.0.1",
        json!({"ports": [{"name": "https", "port": 443, "targetPort": API_PORT, "protocol": "TCP"}]}),
    );
    // The control plane's address: no nodeName, as the API server writes it.
    let endpoints = serde_json::from_value(json!({
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": NODE_IP.to_string()}],
                     "ports": [{"name": "https", "port": API_PORT, "protocol": "TCP"}]}],
    }))
    .unwrap();
    p.resync(&[(kubernetes, Some(endpoints))]).await.unwrap();
    let answer = lab::tcp_ask(
        &lab.pod_ns("p1"),
        SocketAddrV4::new([10, 43, 0, 1].into(), 443),
    )
    .unwrap_or_else(|e| panic!("10.43.0.1:443 from a pod: {e}"));
    assert_eq!(
        answer,
        format!("api {P1}"),
        "the API sees the pod's own address"
    );
    server.join().unwrap();
}

#[tokio::test]
async fn nftables_a_pod_reaches_an_endpoint_on_the_node() {
    if privileged() {
        a_pod_reaches_an_endpoint_on_the_node(ProxyMode::Nftables).await;
    }
}

#[tokio::test]
async fn iptables_a_pod_reaches_an_endpoint_on_the_node() {
    if privileged() {
        a_pod_reaches_an_endpoint_on_the_node(ProxyMode::Iptables).await;
    }
}
