//! kubectl's columns and description for Services and Endpoints.
//!
//! - `get svc`: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE, ports as `8080:31294/TCP`
//!   (NodePort) or `80/TCP`; an ExternalName Service shows its name as EXTERNAL-IP.
//! - `get ep`: NAME ENDPOINTS AGE, at most three `ip:port` then `+ N more...`.
//! - `describe svc`: kubectl's fields, with the Endpoints' ready addresses.

use std::fmt::Write;

use serde_json::Value;

use super::pods::align;
use super::tables::{s, service_ports};

/// How many `ip:port` pairs kubectl shows before `+ N more...`.
const SHOWN_ENDPOINTS: usize = 3;

/// The elements of the array at `ptr` (none when absent).
fn array<'a>(o: &'a Value, ptr: &str) -> impl Iterator<Item = &'a Value> {
    o.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn or_none(v: String) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v
    }
}

/// The columns of `get svc` after NAME, up to and with PORT(S).
pub fn service_columns(o: &Value) -> [String; 4] {
    let service_type = Some(s(o, "/spec/type"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "ClusterIP".into());
    let mut external: Vec<String> = array(o, "/spec/externalIPs")
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let external = match service_type.as_str() {
        "ExternalName" => s(o, "/spec/externalName"),
        "LoadBalancer" => {
            external.extend(array(o, "/status/loadBalancer/ingress").map(|i| s(i, "/ip")));
            if external.is_empty() {
                "<pending>".into()
            } else {
                external.join(",")
            }
        }
        _ => external.join(","),
    };
    [
        service_type,
        or_none(s(o, "/spec/clusterIP")),
        or_none(external),
        or_none(service_ports(o)),
    ]
}

/// `10.42.0.5:80,10.42.0.6:80 + 1 more...`, or `<none>`: ready addresses only.
pub fn endpoints_summary(o: &Value) -> String {
    let mut pairs = Vec::new();
    for subset in array(o, "/subsets") {
        let addresses = subset.get("addresses").and_then(Value::as_array);
        let ports = subset.get("ports").and_then(Value::as_array);
        for address in addresses.into_iter().flatten() {
            let ip = s(address, "/ip");
            match ports.filter(|p| !p.is_empty()) {
                Some(ports) => {
                    pairs.extend(ports.iter().map(|p| format!("{ip}:{}", s(p, "/port"))))
                }
                None => pairs.push(ip),
            }
        }
    }
    if pairs.is_empty() {
        return "<none>".into();
    }
    let more = pairs.len().saturating_sub(SHOWN_ENDPOINTS);
    pairs.truncate(SHOWN_ENDPOINTS);
    let mut text = pairs.join(",");
    if more > 0 {
        let _ = write!(text, " + {more} more...");
    }
    text
}

fn map_text(o: &Value, ptr: &str) -> String {
    let pairs: Vec<String> = o
        .pointer(ptr)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    or_none(pairs.join(","))
}

/// kubectl's `describe service`, without the events section.
pub fn describe_service(svc: &Value, endpoints: Option<&Value>) -> String {
    let [service_type, _, _, _] = service_columns(svc);
    let mut rows: Vec<Vec<String>> = vec![
        vec!["Name:".into(), s(svc, "/metadata/name")],
        vec!["Namespace:".into(), s(svc, "/metadata/namespace")],
        vec!["Labels:".into(), map_text(svc, "/metadata/labels")],
        vec!["Selector:".into(), map_text(svc, "/spec/selector")],
        vec!["Type:".into(), service_type.clone()],
    ];
    if service_type == "ExternalName" {
        rows.push(vec!["External Name:".into(), s(svc, "/spec/externalName")]);
    } else {
        rows.push(vec!["IP:".into(), or_none(s(svc, "/spec/clusterIP"))]);
    }
    let ports = svc.pointer("/spec/ports").and_then(Value::as_array);
    for port in ports.into_iter().flatten() {
        let name = or_unset(s(port, "/name"));
        let protocol = Some(s(port, "/protocol"))
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "TCP".into());
        rows.push(vec![
            "Port:".into(),
            format!("{name}  {}/{protocol}", s(port, "/port")),
        ]);
        let target = s(port, "/targetPort");
        rows.push(vec![
            "TargetPort:".into(),
            format!("{}/{protocol}", or_default(target, &s(port, "/port"))),
        ]);
        if port.get("nodePort").and_then(Value::as_i64).is_some() {
            rows.push(vec![
                "NodePort:".into(),
                format!("{name}  {}/{protocol}", s(port, "/nodePort")),
            ]);
        }
        rows.push(vec![
            "Endpoints:".into(),
            endpoints.map_or("<none>".into(), |e| {
                endpoints_for_port(e, &s(port, "/name"))
            }),
        ]);
    }
    rows.push(vec![
        "Session Affinity:".into(),
        or_default(s(svc, "/spec/sessionAffinity"), "None"),
    ]);
    let policy = s(svc, "/spec/externalTrafficPolicy");
    if !policy.is_empty() {
        rows.push(vec!["External Traffic Policy:".into(), policy]);
    }
    let mut out = String::new();
    for line in align(&rows).lines() {
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn or_unset(v: String) -> String {
    or_default(v, "<unset>")
}

fn or_default(v: String, d: &str) -> String {
    if v.is_empty() {
        d.into()
    } else {
        v
    }
}

/// The ready `ip:port` pairs of the Endpoints' port named `name` ("" for an unnamed one).
fn endpoints_for_port(o: &Value, name: &str) -> String {
    let mut pairs = Vec::new();
    for subset in array(o, "/subsets") {
        let port = array(subset, "/ports").find(|p| s(p, "/name") == name);
        let Some(port) = port else { continue };
        for address in array(subset, "/addresses") {
            pairs.push(format!("{}:{}", s(address, "/ip"), s(port, "/port")));
        }
    }
    or_none(pairs.join(","))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn service_columns_read_as_kubectl() {
        let node_port = json!({"spec": {"type": "NodePort", "clusterIP": "10.43.0.9", "ports": [{"port": 8080, "nodePort": 31294, "protocol": "TCP"}]}});
        assert_eq!(
            service_columns(&node_port),
            ["NodePort", "10.43.0.9", "<none>", "8080:31294/TCP"]
        );
        let cluster_ip = json!({"spec": {"clusterIP": "10.43.0.10", "ports": [{"port": 80}]}});
        assert_eq!(
            service_columns(&cluster_ip),
            ["ClusterIP", "10.43.0.10", "<none>", "80/TCP"]
        );
        let external = json!({"spec": {"type": "ExternalName", "externalName": "my.database.com"}});
        assert_eq!(
            service_columns(&external),
            ["ExternalName", "<none>", "my.database.com", "<none>"]
        );
    }

    #[test]
    fn endpoints_show_three_pairs_then_how_many_more() {
        let ep = json!({"subsets": [{
            "addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.0.6"}, {"ip": "10.42.0.7"}, {"ip": "10.42.0.8"}],
            "notReadyAddresses": [{"ip": "10.42.0.9"}],
            "ports": [{"port": 80}],
        }]});
        assert_eq!(
            endpoints_summary(&ep),
            "10.42.0.5:80,10.42.0.6:80,10.42.0.7:80 + 1 more..."
        );
        assert_eq!(endpoints_summary(&json!({"metadata": {}})), "<none>");
    }

    #[test]
    fn describe_lists_ports_and_endpoints() {
        let svc = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"type": "NodePort", "clusterIP": "10.43.0.9", "selector": {"app": "web"}, "sessionAffinity": "None", "externalTrafficPolicy": "Cluster", "ports": [{"name": "http", "port": 8080, "targetPort": 80, "nodePort": 30080, "protocol": "TCP"}]}});
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.42.0.5"}], "ports": [{"name": "http", "port": 80}]}]});
        let text = describe_service(&svc, Some(&ep));
        for line in [
            "Selector:",
            "app=web",
            "NodePort:",
            "http  30080/TCP",
            "TargetPort:",
            "80/TCP",
            "10.42.0.5:80",
            "External Traffic Policy:",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }

    fn external(spec: serde_json::Value, status: serde_json::Value) -> String {
        let [_, _, external, _] = service_columns(&json!({"spec": spec, "status": status}));
        external
    }

    /// kubectl's EXTERNAL-IP: `<pending>` for a LoadBalancer without ingress yet, the
    /// externalIPs and ingress IPs joined by commas, `<none>` for the other types.
    #[test]
    fn external_ip_column() {
        let lb = json!({"type": "LoadBalancer", "clusterIP": "10.43.0.9"});
        assert_eq!(external(lb.clone(), json!({})), "<pending>");
        let ingress =
            json!({"loadBalancer": {"ingress": [{"ip": "10.1.0.2"}, {"ip": "10.1.0.3"}]}});
        assert_eq!(external(lb, ingress), "10.1.0.2,10.1.0.3");
        let with_external = json!({"type": "LoadBalancer", "externalIPs": ["192.0.2.7"]});
        assert_eq!(
            external(
                with_external,
                json!({"loadBalancer": {"ingress": [{"ip": "10.1.0.2"}]}})
            ),
            "192.0.2.7,10.1.0.2"
        );
        assert_eq!(external(json!({"type": "NodePort"}), json!({})), "<none>");
        assert_eq!(
            external(
                json!({"externalIPs": ["192.0.2.7", "192.0.2.8"]}),
                json!({})
            ),
            "192.0.2.7,192.0.2.8"
        );
    }
}
