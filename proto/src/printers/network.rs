//! Services (TYPE CLUSTER-IP EXTERNAL-IP PORT(S)), Endpoints and EndpointSlices (at most
//! three addresses, then `+ N more...`).

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use super::age::age;
use super::fields::{format_labels, items, or, text};
use super::{docs, Column};

pub const SERVICE: &[Column] = &[
    Column::name(),
    Column::text("Type", docs::SVC_TYPE),
    Column::text("Cluster-IP", docs::SVC_CLUSTER_IP),
    Column::text("External-IP", docs::SVC_EXTERNAL_IPS),
    Column::text("Port(s)", docs::SVC_PORTS),
    Column::age(),
    Column::text("Selector", docs::SVC_SELECTOR).wide(),
];

pub const ENDPOINTS: &[Column] = &[
    Column::name(),
    Column::text("Endpoints", docs::EP_SUBSETS),
    Column::age(),
];

pub const ENDPOINT_SLICE: &[Column] = &[
    Column::name(),
    Column::text("AddressType", docs::ES_ADDRESS_TYPE),
    Column::text("Ports", docs::ES_PORTS),
    Column::text("Endpoints", docs::ES_ENDPOINTS),
    Column::age(),
];

/// How many entries kubectl lists before `+ N more...`.
const SHOWN: usize = 3;

/// The spec.type, which the API server defaults to ClusterIP.
fn service_type(o: &Value) -> String {
    or(text(o, "/spec/type"), "ClusterIP")
}

fn strings<'a>(o: &'a Value, ptr: &str) -> Vec<&'a str> {
    items(o, ptr).filter_map(Value::as_str).collect()
}

/// The load balancer's ingress IPs (or host names), sorted and without repeats.
fn load_balancer_ips(o: &Value) -> Vec<String> {
    let ips: BTreeSet<String> = items(o, "/status/loadBalancer/ingress")
        .map(|i| or(text(i, "/ip"), &text(i, "/hostname")))
        .filter(|a| !a.is_empty())
        .collect();
    ips.into_iter().collect()
}

/// EXTERNAL-IP: the externalIPs, a LoadBalancer's ingress first (`<pending>` while it
/// has none), an ExternalName's name.
fn external_ip(o: &Value) -> String {
    let external = strings(o, "/spec/externalIPs");
    match service_type(o).as_str() {
        "ClusterIP" | "NodePort" => or(external.join(","), "<none>"),
        "LoadBalancer" => {
            let mut all = load_balancer_ips(o);
            all.extend(external.iter().map(|s| s.to_string()));
            or(all.join(","), "<pending>")
        }
        "ExternalName" => text(o, "/spec/externalName"),
        _ => "<unknown>".into(),
    }
}

/// PORT(S): `80/TCP`, or `8080:31294/TCP` with a node port.
fn ports(o: &Value) -> String {
    let ports: Vec<String> = items(o, "/spec/ports")
        .map(|p| {
            let protocol = or(text(p, "/protocol"), "TCP");
            let port = text(p, "/port");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(node_port) if node_port > 0 => format!("{port}:{node_port}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    or(ports.join(","), "<none>")
}

pub fn service(o: &Value, now: Timestamp) -> Vec<Value> {
    let cluster_ip = match text(o, "/spec/clusterIPs/0") {
        ip if ip.is_empty() => text(o, "/spec/clusterIP"),
        ip => ip,
    };
    vec![
        text(o, "/metadata/name").into(),
        service_type(o).into(),
        or(cluster_ip, "<none>").into(),
        external_ip(o).into(),
        ports(o).into(),
        age(o, now),
        format_labels(&o["spec"]["selector"]).into(),
    ]
}

/// `a,b,c + N more...` of `total` entries of which `shown` are listed.
fn with_more(shown: &[String], total: usize) -> String {
    let text = shown.join(",");
    match total > SHOWN {
        true => format!("{text} + {} more...", total - SHOWN),
        false => text,
    }
}

/// The ready `ip:port` pairs (the IPs alone where a subset has no ports), port by port.
pub fn endpoints_text(o: &Value) -> String {
    if items(o, "/subsets").next().is_none() {
        return "<none>".into();
    }
    let (mut shown, mut total) = (Vec::new(), 0);
    for subset in items(o, "/subsets") {
        let addresses: Vec<String> = items(subset, "/addresses")
            .map(|a| text(a, "/ip"))
            .collect();
        let ports: Vec<&Value> = items(subset, "/ports").collect();
        if ports.is_empty() {
            total += addresses.len();
            shown.extend(addresses.iter().cloned());
        }
        for port in ports {
            total += addresses.len();
            let port = text(port, "/port");
            shown.extend(addresses.iter().map(|ip| join_host_port(ip, &port)));
        }
    }
    shown.truncate(SHOWN);
    with_more(&shown, total)
}

/// `ip:port`, with an IPv6 address in brackets.
fn join_host_port(ip: &str, port: &str) -> String {
    match ip.contains(':') {
        true => format!("[{ip}]:{port}"),
        false => format!("{ip}:{port}"),
    }
}

pub fn endpoints(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        text(o, "/metadata/name").into(),
        endpoints_text(o).into(),
        age(o, now),
    ]
}

/// A list of at most three, `+ N more...`, or `<unset>` when empty.
fn listed(all: Vec<String>) -> String {
    let total = all.len();
    let shown: Vec<String> = all.into_iter().take(SHOWN).collect();
    or(with_more(&shown, total), "<unset>")
}

pub fn endpoint_slice(o: &Value, now: Timestamp) -> Vec<Value> {
    let ports = items(o, "/ports")
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(port) => port.to_string(),
            None => p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("*")
                .to_string(),
        })
        .collect();
    let addresses = items(o, "/endpoints")
        .flat_map(|e| strings(e, "/addresses"))
        .map(str::to_string)
        .collect();
    vec![
        text(o, "/metadata/name").into(),
        text(o, "/addressType").into(),
        listed(ports).into(),
        listed(addresses).into(),
        age(o, now),
    ]
}
