//! kubectl's `describe svc`: its fields, with the Endpoints' ready addresses.

use std::fmt::Write;

use serde_json::Value;

use super::pods::align;
use super::tables::s;

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
    let service_type = or_default(s(svc, "/spec/type"), "ClusterIP");
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
}
