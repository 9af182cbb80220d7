use serde_json::{json, Value};

use super::{ago, row};

fn service(spec: Value, status: Value) -> Vec<String> {
    let svc = json!({"metadata": {"name": "svc", "creationTimestamp": ago(0)}, "spec": spec, "status": status});
    row("Service", &svc)
}

#[test]
fn services_show_type_addresses_and_ports() {
    let spec = json!({"type": "NodePort", "clusterIP": "10.43.0.9", "clusterIPs": ["10.43.0.9"],
        "selector": {"app": "web", "tier": "front"},
        "ports": [{"port": 8080, "nodePort": 31294, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]});
    assert_eq!(
        service(spec, json!({})),
        [
            "svc",
            "NodePort",
            "10.43.0.9",
            "<none>",
            "8080:31294/TCP,53/UDP",
            "0s",
            "app=web,tier=front"
        ]
    );
    let headless = json!({"clusterIP": "None", "clusterIPs": ["None"]});
    assert_eq!(
        service(headless, json!({}))[1..5],
        ["ClusterIP", "None", "<none>", "<none>"]
    );
    let external = json!({"type": "ExternalName", "externalName": "my.database.com"});
    assert_eq!(
        service(external, json!({}))[1..5],
        ["ExternalName", "<none>", "my.database.com", "<none>"]
    );
    let with_ips = json!({"type": "ClusterIP", "clusterIPs": ["10.9.8.7"], "externalIPs": ["192.0.2.7", "192.0.2.8"]});
    assert_eq!(service(with_ips, json!({}))[3], "192.0.2.7,192.0.2.8");
}

/// A LoadBalancer is `<pending>` until it has an ingress; its ingress addresses come
/// sorted, before the externalIPs, and the server never shortens them.
#[test]
fn load_balancers_list_their_ingress_then_the_external_ips() {
    let lb = json!({"type": "LoadBalancer", "clusterIPs": ["10.9.8.7"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]});
    assert_eq!(service(lb.clone(), json!({}))[3], "<pending>");
    let ingress = json!({"loadBalancer": {"ingress": [
        {"ip": "3.4.5.6"}, {"ip": "2.3.4.5"}, {"hostname": "lb.example.com"}, {"ip": "3.4.5.6"}]}});
    assert_eq!(
        service(lb.clone(), ingress.clone())[3],
        "2.3.4.5,3.4.5.6,lb.example.com"
    );
    let mut with_external = lb;
    with_external["externalIPs"] = json!(["80.11.12.10"]);
    assert_eq!(
        service(with_external, ingress)[3],
        "2.3.4.5,3.4.5.6,lb.example.com,80.11.12.10"
    );
}

#[test]
fn endpoints_show_three_addresses_port_by_port_then_how_many_more() {
    let ep = json!({"metadata": {"name": "web"}, "subsets": [{
        "addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.0.6"}],
        "notReadyAddresses": [{"ip": "10.42.0.9"}],
        "ports": [{"port": 80}, {"port": 443}],
    }]});
    assert_eq!(
        row("Endpoints", &ep)[1],
        "10.42.0.5:80,10.42.0.6:80,10.42.0.5:443 + 1 more..."
    );
    let headless = json!({"subsets": [{"addresses": [{"ip": "10.42.0.5"}, {"ip": "fd00::1"}]}]});
    assert_eq!(row("Endpoints", &headless)[1], "10.42.0.5,fd00::1");
    let v6 = json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
    assert_eq!(row("Endpoints", &v6)[1], "[fd00::1]:80");
    assert_eq!(row("Endpoints", &json!({"metadata": {}}))[1], "<none>");
}

#[test]
fn endpoint_slices_show_ports_and_addresses() {
    let slice = json!({"metadata": {"name": "web-abc"}, "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "https"}, {}, {"port": 9090}],
        "endpoints": [{"addresses": ["10.42.0.5"]}, {"addresses": ["10.42.0.6", "10.42.0.7"]}]});
    assert_eq!(
        row("EndpointSlice", &slice)[..4],
        [
            "web-abc",
            "IPv4",
            "80,https,* + 1 more...",
            "10.42.0.5,10.42.0.6,10.42.0.7"
        ]
    );
    let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv4"});
    assert_eq!(row("EndpointSlice", &empty)[2..4], ["<unset>", "<unset>"]);
}
