//! Three nodes, each in its own network namespace on a test bridge, the host being the
//! root namespace (issue 12, items 6 and 7):
//! - a LoadBalancer Service gets the Ready nodes' addresses as its ingress (`skiff get
//!   svc` shows them as EXTERNAL-IP) and answers on each of them; with
//!   `externalTrafficPolicy: Local` each node hands the request to its own pod;
//! - losing a node (its agent killed, its link down): the node turns NotReady after
//!   `--node-grace`, its pod leaves the endpoints and its address the ingress, the pod is
//!   evicted after `--pod-eviction` and its ReplicaSet recreates it on another node; the
//!   node coming back removes the replaced pod's containers.
//!
//! Policy Local keeps every request on the node it reached, so this file needs no pod
//! network between nodes; `multinode.rs` covers traffic across nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{bail, ensure};
use skiff_e2e::multinode::{answer_pod, http_get, MultiNode, Options};
use skiff_e2e::wait_for;

const LB: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: hostname-lb
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector:
    app: webserver
  ports:
    - name: web
      port: 8081
      targetPort: 80
";

/// `skiff get svc NAME`'s EXTERNAL-IP column.
fn external_ip(cluster: &MultiNode, svc: &str) -> anyhow::Result<String> {
    let table = cluster.cp.skiff(&["get", "svc", svc])?;
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let col = header.iter().position(|h| *h == "EXTERNAL-IP");
    match col.and_then(|c| row.get(c)) {
        Some(value) => Ok(value.to_string()),
        None => bail!("no EXTERNAL-IP in {table:?}"),
    }
}

/// Waits until the EXTERNAL-IP column shows exactly these addresses.
fn wait_external_ip(cluster: &MultiNode, svc: &str, ips: &[String]) -> anyhow::Result<()> {
    let want = ips.join(",");
    wait_for(
        &format!("EXTERNAL-IP {want}"),
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let shown = external_ip(cluster, svc)?;
            ensure!(shown == want, "EXTERNAL-IP is {shown}");
            Ok(())
        },
    )
}

/// Node index → the pod on it (one each, as the scheduler spreads them).
fn pod_per_node(placement: &BTreeMap<String, String>) -> anyhow::Result<BTreeMap<usize, String>> {
    let mut per_node = BTreeMap::new();
    for (pod, node) in placement {
        let i = (0..3)
            .find(|i| MultiNode::node_name(*i) == *node)
            .ok_or_else(|| anyhow::anyhow!("{pod} is on unknown node {node:?}"))?;
        ensure!(
            per_node.insert(i, pod.clone()).is_none(),
            "two pods on {node}: {placement:?}"
        );
    }
    Ok(per_node)
}

/// The pods answering `addr` over `n` requests from the host.
fn answers(addr: &str, n: usize) -> anyhow::Result<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        seen.insert(answer_pod(&http_get(addr)?));
    }
    Ok(seen)
}

fn scenario(cluster: &mut MultiNode) -> anyhow::Result<()> {
    cluster.apply_user_manifest("hostname-deployment.yaml")?;
    cluster.apply("lb.yaml", LB)?;
    let placement = cluster.ready_pods("app=webserver", 3)?;
    let per_node = pod_per_node(&placement)?;
    ensure!(
        per_node.len() == 3,
        "not spread over the nodes: {placement:?}"
    );
    let node_ips: Vec<String> = (0..3).map(|i| cluster.node_ip(i).to_string()).collect();
    wait_external_ip(cluster, "hostname-lb", &node_ips)?;

    // Every node's address answers, each with its own pod (policy Local).
    for (i, pod) in &per_node {
        let addr = format!("{}:8081", cluster.node_ip(*i));
        wait_for(
            "the load balancer answering",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || http_get(&addr),
        )?;
        let seen = answers(&addr, 10)?;
        ensure!(
            seen == BTreeSet::from([pod.clone()]),
            "{addr} answered {seen:?}, want {pod}"
        );
    }

    // Node 3 is lost: agent killed, link down.
    let lost = 2;
    let lost_name = MultiNode::node_name(lost);
    let lost_pod = per_node[&lost].clone();
    let lost_uid = cluster.cp.get_json("pod", &lost_pod)?["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    cluster.lose_node(lost)?;
    cluster.wait_not_ready(lost)?;
    // Its pod leaves the rotation, its address the ingress.
    wait_for(
        "the lost pod out of the endpoints",
        Duration::from_secs(30),
        Duration::from_millis(300),
        || {
            let ep = cluster.cp.get_json("endpoints", "hostname-lb")?;
            let ready: Vec<&str> = ep["subsets"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["addresses"].as_array().into_iter().flatten())
                .filter_map(|a| a["targetRef"]["name"].as_str().or(a["nodeName"].as_str()))
                .collect();
            ensure!(
                !ready.iter().any(|n| *n == lost_pod || *n == lost_name),
                "ready addresses still name {lost_pod}: {ep}"
            );
            Ok(())
        },
    )?;
    wait_external_ip(cluster, "hostname-lb", &node_ips[..2])?;

    // Evicted, and recreated by its ReplicaSet on the nodes left.
    let replaced = wait_for(
        "3 ready pods on the 2 nodes left",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            let pods = cluster.pods("app=webserver")?;
            let ready: BTreeMap<&String, &String> = pods
                .iter()
                .filter(|(_, (_, ready))| *ready)
                .map(|(name, (node, _))| (name, node))
                .collect();
            ensure!(
                pods.len() == 3 && ready.len() == 3 && !pods.contains_key(&lost_pod),
                "pods: {pods:?}"
            );
            ensure!(ready.values().all(|n| **n != lost_name), "pods: {pods:?}");
            Ok(pods)
        },
    )?;
    // The nodes left answer from their pods, two of them for one node now.
    let mut seen = BTreeSet::new();
    for i in 0..2 {
        seen.extend(answers(&format!("{}:8081", cluster.node_ip(i)), 20)?);
    }
    let want: BTreeSet<String> = replaced.keys().cloned().collect();
    ensure!(seen == want, "answers {seen:?}, pods {want:?}");

    // The node comes back: Ready again, and its agent removes the replaced pod.
    let ctr_ns = "skiff-mn-3";
    let leftover = |cluster: &MultiNode| -> anyhow::Result<Vec<String>> {
        cluster
            .containerd
            .ctr_in(
                ctr_ns,
                &[
                    "containers",
                    "ls",
                    "-q",
                    &format!("labels.\"io.skiff.pod.uid\"=={lost_uid}"),
                ],
            )
            .map(|out| out.lines().map(String::from).collect())
    };
    ensure!(
        !leftover(cluster)?.is_empty(),
        "the lost node's pod kept running while it was away"
    );
    cluster.restore_node(lost)?;
    cluster.wait_ready(3)?;
    wait_for(
        "the replaced pod removed from the node that came back",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            let left = leftover(cluster)?;
            ensure!(left.is_empty(), "containers left: {left:?}");
            Ok(())
        },
    )?;
    // And the ingress names all three nodes again.
    let with_pods: BTreeSet<usize> = cluster
        .pods("app=webserver")?
        .values()
        .filter_map(|(node, _)| (0..3).find(|i| MultiNode::node_name(*i) == *node))
        .collect();
    let ips: Vec<String> = with_pods
        .iter()
        .map(|i| cluster.node_ip(*i).to_string())
        .collect();
    wait_external_ip(cluster, "hostname-lb", &ips)?;
    Ok(())
}

#[test]
fn load_balancer_on_node_addresses_and_a_lost_node_replaced() {
    let opts = Options::three_nodes()
        .cp_arg("--node-lease")
        .cp_arg("8s")
        .cp_arg("--node-grace")
        .cp_arg("8s")
        .cp_arg("--pod-eviction")
        .cp_arg("10s");
    MultiNode::run(opts, scenario);
}
