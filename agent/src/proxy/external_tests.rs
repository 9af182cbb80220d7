//! externalIPs and load-balancer ingress addresses: the rules that make a service port
//! answer on them, with the recording fake (no root).

use std::sync::Arc;

use serde_json::json;

use super::fake::{Call, RecordingExec};
use super::model::{self, NodeView};
use super::tests::{endpoints, service};
use super::*;

fn view() -> NodeView<'static> {
    NodeView {
        node_name: "n1",
        pod_cidr: "10.42.0.0/24".parse().unwrap(),
    }
}

/// A LoadBalancer service whose status names two node addresses, plus an externalIP.
fn load_balancer(policy: &str) -> k8s_openapi::api::core::v1::Service {
    let mut svc = service(
        "lb",
        "10.43.0.20",
        json!({"type": "LoadBalancer", "externalTrafficPolicy": policy,
               "externalIPs": ["192.0.2.7"],
               "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30090}]}),
    );
    svc.status = serde_json::from_value(json!({"loadBalancer": {"ingress": [
        {"ip": "192.168.1.10"}, {"ip": "192.168.1.11"}, {"ip": "192.168.1.10"}
    ]}}))
    .unwrap();
    svc
}

#[test]
fn each_external_address_gets_a_rule_like_the_cluster_ip() {
    let eps = endpoints("lb", &[("10.42.0.5", "n1"), ("10.42.1.5", "n2")]);
    let rules = model::port_rules(&load_balancer("Cluster"), Some(&eps), &view());
    let addrs: Vec<String> = rules.iter().map(|r| r.cluster_ip.to_string()).collect();
    // Deduplicated and sorted; the ClusterIP rule first.
    assert_eq!(
        addrs,
        ["10.43.0.20", "192.0.2.7", "192.168.1.10", "192.168.1.11"]
    );
    assert!(!rules[0].external && rules[1..].iter().all(|r| r.external));
    assert!(rules[1..]
        .iter()
        .all(|r| r.port == 80 && r.node_port.is_none()));
    assert!(rules[1..].iter().all(|r| r.backends.len() == 2));
    assert_eq!(rules[0].node_port, Some(30090));
}

#[test]
fn policy_local_sends_external_traffic_only_to_local_pods() {
    let eps = endpoints("lb", &[("10.42.0.5", "n1"), ("10.42.1.5", "n2")]);
    let rules = model::port_rules(&load_balancer("Local"), Some(&eps), &view());
    for r in rules.iter().filter(|r| r.external) {
        let ips: Vec<String> = r.backends.iter().map(|b| b.ip.to_string()).collect();
        assert_eq!(ips, ["10.42.0.5"], "{r:?}");
    }
    // The ClusterIP keeps both.
    assert_eq!(rules[0].backends.len(), 2);
}

#[test]
fn ingress_counts_only_for_type_load_balancer() {
    let mut svc = load_balancer("Cluster");
    svc.spec.as_mut().unwrap().type_ = Some("NodePort".into());
    let addrs = model::external_addresses(&svc);
    assert_eq!(addrs, ["192.0.2.7".parse::<std::net::Ipv4Addr>().unwrap()]);
}

#[test]
fn nft_masquerades_external_traffic_under_policy_cluster_only() {
    let eps = endpoints("lb", &[("10.42.0.5", "n1")]);
    let cluster = nft::contribution(&model::port_rules(
        &load_balancer("Cluster"),
        Some(&eps),
        &view(),
    ));
    let keys: Vec<&str> = cluster
        .elems
        .iter()
        .filter(|e| e.set == "svc_n1")
        .map(|e| e.key.as_str())
        .collect();
    assert!(keys.contains(&"192.168.1.11 . tcp . 80"), "{keys:?}");
    assert!(keys.contains(&"192.0.2.7 . tcp . 80"), "{keys:?}");
    let masq: Vec<&str> = cluster
        .elems
        .iter()
        .filter(|e| e.set == "ext_masq_tcp")
        .map(|e| e.key.as_str())
        .collect();
    assert_eq!(
        masq,
        ["192.0.2.7 . 80", "192.168.1.10 . 80", "192.168.1.11 . 80"]
    );
    let local = nft::contribution(&model::port_rules(
        &load_balancer("Local"),
        Some(&eps),
        &view(),
    ));
    assert!(local.elems.iter().all(|e| e.set != "ext_masq_tcp"));
}

#[test]
fn nft_rejects_an_external_address_without_local_pods_under_policy_local() {
    let eps = endpoints("lb", &[("10.42.1.5", "n2")]);
    let c = nft::contribution(&model::port_rules(
        &load_balancer("Local"),
        Some(&eps),
        &view(),
    ));
    let no_ep: Vec<&str> = c
        .elems
        .iter()
        .filter(|e| e.set == "no_ep")
        .map(|e| e.key.as_str())
        .collect();
    assert!(no_ep.contains(&"192.168.1.10 . tcp . 80"), "{no_ep:?}");
}

#[tokio::test]
async fn iptables_marks_external_traffic_for_masquerade() {
    let exec = Arc::new(RecordingExec::default());
    let mut cfg = ProxyConfig::new(
        "n1",
        vec!["192.168.1.10".parse().unwrap()],
        "10.42.0.0/24".parse().unwrap(),
    );
    cfg.mode = ProxyMode::Iptables;
    let mut p = Proxier::with_exec(cfg, exec.clone()).unwrap();
    let eps = endpoints("lb", &[("10.42.0.5", "n1")]);
    p.resync(&[(load_balancer("Cluster"), Some(eps))])
        .await
        .unwrap();
    let input = exec
        .take()
        .iter()
        .find_map(|c| match c {
            Call::IptablesRestore(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    for ip in ["192.0.2.7", "192.168.1.10", "192.168.1.11"] {
        let jump = format!("-A SKIFF-SERVICES -d {ip}/32 -p tcp -m tcp --dport 80 -j SKIFF-SVC-");
        assert!(input.contains(&jump), "{ip}: {input}");
    }
    let rule = model::port_rules(
        &load_balancer("Cluster"),
        Some(&endpoints("lb", &[("10.42.0.5", "n1")])),
        &view(),
    )
    .into_iter()
    .find(|r| r.cluster_ip.to_string() == "192.0.2.7")
    .unwrap();
    let chain = format!("-A SKIFF-SVC-{} -j SKIFF-MARK-MASQ", rule.hash());
    assert!(input.contains(&chain), "{input}");
}
