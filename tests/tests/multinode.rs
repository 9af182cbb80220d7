//! A three-node cluster across network namespaces (issue 12), once per pod network:
//! `vxlan` with every node on one subnet (direct routes between peers), `vxlan` with the
//! third node behind a router namespace (the tunnel), and `host-gw`. The host is the root
//! namespace, as a laptop is to its Vagrant VMs. Each run checks, as a user would:
//! - every node registered with its own address (no `--node-ip`: the interface that
//!   routes to the control plane);
//! - pod to pod across nodes, the server seeing the client pod's own address;
//! - the notes' hostname Deployment behind its NodePort: from the host, 30 requests to
//!   each node's address all succeed and together reach all 3 pods, one per node;
//! - a pod on one node reaches the ClusterIP Service by name, answered from the others;
//! - a LoadBalancer Service answers on every node's address;
//! - a node lost (agent killed, link down): NotReady, its pod replaced elsewhere, the
//!   NodePort still answered by 3 pods from the nodes left; the node deleted: no route,
//!   FDB entry or neighbour for it left on the others;
//! - `skiff-agent cleanup` leaves nothing of the pod network on a node.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{ensure, Context};
use skiff_e2e::multinode::{answer_pod, http_get, Layout, MultiNode, Options};
use skiff_e2e::wait_for;

/// The VXLAN device the agent makes (flannel's `flannel.1`).
const VXLAN_DEVICE: &str = "skiff.1";

const LB: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: hostname-lb
spec:
  type: LoadBalancer
  selector:
    app: webserver
  ports:
    - name: web
      port: 8081
      targetPort: 80
";

/// A busybox httpd whose CGI answers with the client's address, pinned to a node.
fn peer_echo(node: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: peer-echo
spec:
  nodeName: {node}
  containers:
    - name: srv
      image: busybox:latest
      command:
        - sh
        - -c
        - "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www"
"#
    )
}

/// A shell pod pinned to a node, for `skiff exec`.
fn client(node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: client\nspec:\n  nodeName: {node}\n  containers:\n    - name: sh\n      image: busybox:latest\n      command: [\"sleep\", \"3600\"]\n"
    )
}

fn pod_ip(cluster: &MultiNode, pod: &str) -> anyhow::Result<String> {
    let json = cluster.cp.get_json("pod", pod)?;
    json["status"]["podIP"]
        .as_str()
        .map(String::from)
        .with_context(|| format!("{pod} has no podIP yet"))
}

/// `wget -qO- URL` inside the client pod, through the control plane's exec.
fn wget_in_client(cluster: &MultiNode, url: &str) -> anyhow::Result<String> {
    let out = cluster
        .cp
        .skiff(&["exec", "client", "--", "wget", "-qO-", url])?;
    Ok(out.trim().to_string())
}

/// `n` requests to `addr` from the host, every one answered; the pods that answered.
fn all_answer(addr: &str, n: usize) -> anyhow::Result<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    for k in 0..n {
        let body = http_get(addr).with_context(|| format!("request {} of {n} to {addr}", k + 1))?;
        seen.insert(answer_pod(&body));
    }
    Ok(seen)
}

/// Waits until `addr` answers, then requires 30 answers from exactly `pods`.
fn reaches_all(addr: &str, pods: &BTreeSet<String>) -> anyhow::Result<()> {
    wait_for(
        &format!("{addr} answering"),
        Duration::from_secs(30),
        Duration::from_millis(300),
        || http_get(addr),
    )?;
    let seen = all_answer(addr, 30)?;
    ensure!(
        &seen == pods,
        "{addr}: 30 requests reached {seen:?}, want {pods:?}"
    );
    Ok(())
}

fn node_addresses(cluster: &MultiNode) -> anyhow::Result<BTreeMap<String, String>> {
    let list: serde_json::Value =
        serde_json::from_str(&cluster.cp.skiff(&["get", "nodes", "-o", "json"])?)?;
    let mut out = BTreeMap::new();
    for node in list["items"].as_array().into_iter().flatten() {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let ip = node["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["type"] == "InternalIP")
            .and_then(|a| a["address"].as_str())
            .unwrap_or_default();
        out.insert(name.to_string(), ip.to_string());
    }
    Ok(out)
}

/// What node `i` holds of the pod network toward `cidr` / `peer_ip`: routes, FDB entries
/// and neighbours that name them.
fn traces_of(
    cluster: &MultiNode,
    i: usize,
    cidr: &str,
    peer_ip: &str,
) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    let routes = cluster.in_node(i, &["ip", "route", "show"])?;
    found.extend(
        routes
            .lines()
            .filter(|l| l.starts_with(cidr))
            .map(|l| format!("route {l}")),
    );
    let fdb = cluster.in_node(i, &["bridge", "fdb", "show"])?;
    found.extend(
        fdb.lines()
            .filter(|l| l.contains(&format!("dst {peer_ip} ")))
            .map(|l| format!("fdb {l}")),
    );
    let gateway = cidr.split('/').next().unwrap_or_default();
    let neigh = cluster.in_node(i, &["ip", "neigh", "show"])?;
    found.extend(
        neigh
            .lines()
            .filter(|l| l.starts_with(&format!("{gateway} ")))
            .map(|l| format!("neigh {l}")),
    );
    Ok(found)
}

fn scenario(cluster: &mut MultiNode) -> anyhow::Result<()> {
    // Every node registered with the address of its own link.
    let addresses = node_addresses(cluster)?;
    for i in 0..3 {
        let name = MultiNode::node_name(i);
        let want = cluster.node_ip(i).to_string();
        ensure!(
            addresses.get(&name) == Some(&want),
            "{name}: {addresses:?}, want {want}"
        );
    }

    // Pod to pod across nodes: the server sees the client pod's address.
    let (n1, n3) = (MultiNode::node_name(0), MultiNode::node_name(2));
    cluster.apply("peer-echo.yaml", &peer_echo(&n3))?;
    cluster.apply("client.yaml", &client(&n1))?;
    let client_ip = wait_for(
        "the client pod's address",
        Duration::from_secs(90),
        Duration::from_millis(500),
        || pod_ip(cluster, "client"),
    )?;
    let echo_ip = wait_for(
        "the echo pod's address",
        Duration::from_secs(90),
        Duration::from_millis(500),
        || pod_ip(cluster, "peer-echo"),
    )?;
    let url = format!("http://{echo_ip}/cgi-bin/ip");
    let seen = wait_for(
        "the echo pod answering the client pod",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || wget_in_client(cluster, &url),
    )
    .map_err(|e| {
        let from_node = |i| {
            cluster
                .in_node(i, &["curl", "-sS", "-m", "3", &url])
                .unwrap_or_else(|e| format!("{e:#}"))
        };
        let routes = cluster.in_node(0, &["ip", "route"]).unwrap_or_default();
        anyhow::anyhow!(
            "{e:#}\nfrom node 1's namespace: {}\nfrom node 3's: {}\nnode 1's routes:\n{routes}",
            from_node(0),
            from_node(2)
        )
    })?;
    // busybox httpd listens on IPv6 too: `[::ffff:10.42.0.2]`.
    let seen = seen.trim_start_matches("[::ffff:").trim_end_matches(']');
    ensure!(
        seen == client_ip,
        "the server on {n3} saw {seen}, the client pod on {n1} is {client_ip}"
    );

    // The notes' Deployment behind its NodePort, from the host, on every node.
    cluster.apply_user_manifest("hostname-deployment.yaml")?;
    cluster.apply_user_manifest("hostname-svc-nodeport.yaml")?;
    cluster.apply_user_manifest("hostname-svc-clusterip.yaml")?;
    let placement = cluster.ready_pods("app=webserver", 3)?;
    let nodes: BTreeSet<&String> = placement.values().collect();
    ensure!(
        nodes.len() == 3,
        "the pods are not spread over the nodes: {placement:?}"
    );
    let pods: BTreeSet<String> = placement.keys().cloned().collect();
    let node_port = cluster.node_port("hostname-svc-nodeport")?;
    for i in 0..3 {
        reaches_all(&format!("{}:{node_port}", cluster.node_ip(i)), &pods)?;
    }

    // A pod on node 1 reaches the ClusterIP Service by name; the others answer too.
    let mut answered = BTreeSet::new();
    for _ in 0..20 {
        let body = wget_in_client(cluster, "http://hostname-svc-clusterip:8080/")?;
        answered.insert(answer_pod(&body));
    }
    let remote: BTreeSet<String> = placement
        .iter()
        .filter(|(_, node)| **node != n1)
        .map(|(pod, _)| pod.clone())
        .collect();
    ensure!(
        answered.is_superset(&remote),
        "by name from {n1}: answered {answered:?}, pods on the other nodes {remote:?}"
    );

    // LoadBalancer: every node's address, every pod.
    cluster.apply("lb.yaml", LB)?;
    for i in 0..3 {
        reaches_all(&format!("{}:8081", cluster.node_ip(i)), &pods)?;
    }

    // How node 1 reaches node 3's pods: straight to node 3 on a shared subnet (host-gw,
    // or vxlan's direct routing), through the tunnel across the router.
    let cidr = cluster.cp.get_json("node", &n3)?["spec"]["podCIDR"]
        .as_str()
        .context("node 3 has no podCIDR")?
        .to_string();
    let route = cluster.in_node(0, &["ip", "route", "show", &cidr])?;
    let want = match cluster.net.layout {
        Layout::OneSubnet => format!("via {} dev eth0", cluster.node_ip(2)),
        Layout::TwoSubnets => format!("dev {VXLAN_DEVICE}"),
    };
    ensure!(
        route.contains(&want),
        "node 1's route to {cidr}: {route:?}, want {want:?}"
    );

    // Node 3 lost: NotReady, its pod replaced, the NodePort answered by 3 pods.
    let lost = 2;
    cluster.lose_node(lost)?;
    cluster.wait_not_ready(lost)?;
    let replaced = wait_for(
        "3 ready pods on nodes 1 and 2",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            let ready = cluster.ready_pods("app=webserver", 3)?;
            ensure!(ready.values().all(|n| *n != n3), "{ready:?}");
            Ok(ready)
        },
    )?;
    let pods: BTreeSet<String> = replaced.keys().cloned().collect();
    for i in 0..2 {
        reaches_all(&format!("{}:{node_port}", cluster.node_ip(i)), &pods)?;
    }

    // Node 3 deleted: nodes 1 and 2 forget it.
    let peer = cluster.node_ip(lost).to_string();
    cluster.cp.skiff(&["delete", "node", &n3])?;
    for i in 0..2 {
        wait_for(
            "no trace of the deleted node",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || {
                let left = traces_of(cluster, i, &cidr, &peer)?;
                ensure!(left.is_empty(), "{}: {left:?}", MultiNode::node_name(i));
                Ok(())
            },
        )?;
    }

    // Cleanup on node 1 removes the pod network.
    cluster.nodes[0].kill9();
    cluster.nodes[0].cleanup()?;
    let links = cluster.in_node(0, &["ip", "-o", "link", "show"])?;
    ensure!(
        !links.contains(VXLAN_DEVICE) && !links.contains("skiff0"),
        "links left after cleanup: {links}"
    );
    let routes = cluster.in_node(0, &["ip", "route", "show"])?;
    ensure!(
        !routes.contains("10.42."),
        "routes left after cleanup: {routes}"
    );
    let tables = cluster.in_node(0, &["nft", "list", "tables"])?;
    ensure!(
        !tables.contains("skiff"),
        "nft tables left after cleanup: {tables}"
    );
    Ok(())
}

fn options(backend: &'static str) -> Options {
    Options::three_nodes()
        .pod_network(backend)
        .cp_arg("--node-lease")
        .cp_arg("8s")
        .cp_arg("--node-grace")
        .cp_arg("8s")
        .cp_arg("--pod-eviction")
        .cp_arg("10s")
}

#[test]
fn three_nodes_vxlan() {
    MultiNode::run(options("vxlan"), scenario);
}

#[test]
fn three_nodes_vxlan_two_subnets_through_a_router() {
    MultiNode::run(options("vxlan").layout(Layout::TwoSubnets), scenario);
}

#[test]
fn three_nodes_host_gw() {
    MultiNode::run(options("host-gw"), scenario);
}
