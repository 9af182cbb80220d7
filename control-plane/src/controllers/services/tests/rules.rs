//! What goes into a Service's Endpoints (`subsets.rs`).

use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::json;

use crate::controllers::services::subsets::compute;

fn svc(target_port: Value, publish_not_ready: bool) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"app": "web"},
            "publishNotReadyAddresses": publish_not_ready,
            "ports": [{"name": "http", "port": 8080, "targetPort": target_port, "protocol": "TCP"}],
        },
    }))
    .unwrap()
}

use serde_json::Value;

fn pod(name: &str, ip: &str, ready: bool, port_name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i", "ports": [{"name": port_name, "containerPort": 8000 + ip.len() as i32}]}]},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
    }))
    .unwrap()
}

fn ips(addresses: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>) -> Vec<String> {
    addresses.iter().flatten().map(|a| a.ip.clone()).collect()
}

#[test]
fn ready_pods_are_addresses_and_the_others_not_ready_addresses() {
    let pods = [
        pod("b", "10.42.0.10", true, "http"),
        pod("a", "10.42.0.9", true, "http"),
        pod("c", "10.42.0.11", false, "http"),
    ];
    let computed = compute(&svc(json!(80), false), &pods);
    assert_eq!(computed.subsets.len(), 1);
    let subset = &computed.subsets[0];
    assert_eq!(
        ips(&subset.addresses),
        ["10.42.0.9", "10.42.0.10"],
        "sorted by IP"
    );
    assert_eq!(ips(&subset.not_ready_addresses), ["10.42.0.11"]);
    let first = &subset.addresses.as_ref().unwrap()[0];
    assert_eq!(first.node_name.as_deref(), Some("n1"));
    let target = first.target_ref.as_ref().unwrap();
    assert_eq!(
        (
            target.kind.as_deref(),
            target.name.as_deref(),
            target.uid.as_deref()
        ),
        (Some("Pod"), Some("a"), Some("uid-a"))
    );
    let port = &subset.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("http"), 80, Some("TCP"))
    );

    let published = compute(&svc(json!(80), true), &pods);
    assert_eq!(ips(&published.subsets[0].addresses).len(), 3);
    assert!(published.subsets[0].not_ready_addresses.is_none());
}

#[test]
fn named_target_ports_resolve_per_pod_and_a_pod_without_the_name_is_left_out() {
    let mut other = pod("c", "10.42.0.100", true, "http");
    other.spec.as_mut().unwrap().containers[0]
        .ports
        .as_mut()
        .unwrap()[0]
        .container_port = 9090;
    let pods = [
        pod("a", "10.42.0.9", true, "http"),
        other,
        pod("x", "10.42.0.7", true, "metrics"),
    ];
    let computed = compute(&svc(json!("http"), false), &pods);
    // Two port sets, two subsets; the pod without "http" is out, with the reason.
    let by_port: Vec<(i32, Vec<String>)> = computed
        .subsets
        .iter()
        .map(|s| (s.ports.as_ref().unwrap()[0].port, ips(&s.addresses)))
        .collect();
    assert_eq!(
        by_port,
        [
            (8009, vec!["10.42.0.9".to_string()]),
            (9090, vec!["10.42.0.100".to_string()])
        ]
    );
    assert_eq!(computed.left_out.len(), 1);
    assert!(
        computed.left_out[0].contains("pod x") && computed.left_out[0].contains("\"http\""),
        "{:?}",
        computed.left_out
    );
}

#[test]
fn no_match_no_selector_and_unusable_pods_give_no_subsets() {
    let mut no_ip = pod("a", "", true, "http");
    no_ip.status.as_mut().unwrap().pod_ip = None;
    let mut done = pod("b", "10.42.0.2", true, "http");
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    let mut other_labels = pod("c", "10.42.0.3", true, "http");
    other_labels.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
    let computed = compute(&svc(json!(80), false), &[no_ip, done, other_labels.clone()]);
    assert!(computed.subsets.is_empty() && computed.left_out.is_empty());
    let mut selectorless = svc(json!(80), false);
    selectorless.spec.as_mut().unwrap().selector = None;
    assert!(
        compute(&selectorless, &[pod("d", "10.42.0.4", true, "http")])
            .subsets
            .is_empty()
    );
}

#[test]
fn a_pod_whose_subdomain_names_the_service_is_listed_under_its_hostname() {
    let mut named = pod("a", "10.42.0.9", true, "http");
    let spec = named.spec.as_mut().unwrap();
    spec.hostname = Some("db-0".into());
    spec.subdomain = Some("web".into());
    let mut elsewhere = pod("b", "10.42.0.10", true, "http");
    let spec = elsewhere.spec.as_mut().unwrap();
    spec.hostname = Some("db-1".into());
    spec.subdomain = Some("other".into());
    let computed = compute(&svc(json!(80), false), &[named, elsewhere]);
    let hostnames: Vec<Option<String>> = computed.subsets[0]
        .addresses
        .iter()
        .flatten()
        .map(|a| a.hostname.clone())
        .collect();
    assert_eq!(hostnames, [Some("db-0".to_string()), None]);
}
