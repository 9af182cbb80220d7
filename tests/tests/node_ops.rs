//! What users do to nodes, on two joined nodes (issue 15, item 3), as a user sees it:
//! - `cordon`: `get nodes` shows `Ready,SchedulingDisabled` and a new Deployment's pods
//!   all land on the other node; `uncordon` undoes it;
//! - `drain` of a node running Deployment pods, a bare pod and a DaemonSet's pod: refused
//!   without `--force` and `--ignore-daemonsets` with kubectl's lines and nothing
//!   evicted; with them the bare pod is gone, the Deployment's pods come back on the
//!   other node, the DaemonSet's pod stays on the drained node, and kubectl's lines are
//!   printed;
//! - `taint ... :NoExecute` evicts a pod that does not tolerate it and keeps one that
//!   does.

use std::time::Duration;

use anyhow::{bail, ensure};
use skiff_e2e::multinode::{MultiNode, Options};
use skiff_e2e::wait_for;

fn two_nodes() -> Options {
    Options {
        nodes: 2,
        ..Options::three_nodes()
    }
}

/// Three sleepers that stop at once (sleep ignores SIGTERM; the grace period is 1 s).
const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: spread
spec:
  replicas: 3
  selector:
    matchLabels: {app: spread}
  template:
    metadata:
      labels: {app: spread}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: busybox:latest
          command: [sleep, '3600']
";

/// A node agent's stand-in, one per node; drain leaves it where it is.
const DAEMON_SET: &str = "\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agents
spec:
  selector:
    matchLabels: {app: agents}
  template:
    metadata:
      labels: {app: agents}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: busybox:latest
          command: [sleep, '3600']
";

/// The DaemonSet's pod on `node`, once one pod runs Ready on each of the two nodes.
fn daemon_pod_on(cluster: &MultiNode, node: &str) -> anyhow::Result<String> {
    wait_for(
        "the DaemonSet's pods, one Ready on each node",
        Duration::from_secs(90),
        Duration::from_millis(500),
        || {
            let pods = cluster.pods("app=agents")?;
            let ready: Vec<_> = pods.iter().filter(|(_, (_, ready))| *ready).collect();
            match ready.iter().find(|(_, (n, _))| n == node) {
                Some((name, _)) if ready.len() == 2 => Ok((*name).clone()),
                _ => bail!("not yet: {pods:?}"),
            }
        },
    )
}

/// A pod without a controller, pinned to `node`; tolerating `dedicated` if asked.
fn bare_pod(name: &str, node: &str, tolerate: bool) -> String {
    let toleration = if tolerate {
        "  tolerations:\n    - {key: dedicated, operator: Exists, effect: NoExecute}\n"
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {node}\n  terminationGracePeriodSeconds: 1\n{toleration}  containers:\n    - name: main\n      image: busybox:latest\n      command: [sleep, '3600']\n"
    )
}

/// `skiff ARGS` that must fail: (stdout, stderr).
fn refused(cluster: &MultiNode, args: &[&str]) -> anyhow::Result<(String, String)> {
    let out = cluster.cp.skiff_output(args)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(
        !out.status.success(),
        "skiff {args:?} succeeded: {stdout}{stderr}"
    );
    Ok((stdout, stderr))
}

fn wait_running(cluster: &MultiNode, pod: &str) -> anyhow::Result<()> {
    wait_for(
        &format!("{pod} running"),
        Duration::from_secs(90),
        Duration::from_millis(500),
        || {
            let json = cluster.cp.get_json("pod", pod)?;
            match json["status"]["phase"].as_str() {
                Some("Running") => Ok(()),
                other => bail!("{pod} is {other:?}"),
            }
        },
    )
}

fn wait_gone(cluster: &MultiNode, pod: &str) -> anyhow::Result<()> {
    wait_for(
        &format!("{pod} gone"),
        Duration::from_secs(60),
        Duration::from_millis(500),
        || match cluster.cp.get_json("pod", pod) {
            Ok(_) => bail!("{pod} still exists"),
            Err(_) => Ok(()),
        },
    )
}

/// Waits until the 3 pods of `app=spread` are Ready and all on `node` (evicted pods may
/// take a lifecycle pass or two to be replaced).
fn wait_spread_on(cluster: &MultiNode, node: &str) -> anyhow::Result<()> {
    wait_for(
        &format!("3 ready pods of app=spread on {node}"),
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            let pods = cluster.pods("app=spread")?;
            let ready_here = pods.values().filter(|(n, ready)| n == node && *ready);
            if pods.len() == 3 && ready_here.count() == 3 {
                Ok(())
            } else {
                bail!("pods: {pods:?}")
            }
        },
    )
}

fn scenario(cluster: &mut MultiNode) -> anyhow::Result<()> {
    let (n1, n2) = (MultiNode::node_name(0), MultiNode::node_name(1));
    let skiff = |args: &[&str]| cluster.cp.skiff(args);

    // cordon: the node stays Ready but takes nothing new.
    ensure!(skiff(&["cordon", &n1])? == format!("node/{n1} cordoned\n"));
    ensure!(skiff(&["cordon", &n1])? == format!("node/{n1} already cordoned\n"));
    let nodes = skiff(&["get", "nodes"])?;
    let row = nodes
        .lines()
        .find(|l| l.starts_with(&n1))
        .unwrap_or_default();
    ensure!(
        row.split_whitespace().nth(1) == Some("Ready,SchedulingDisabled"),
        "{nodes}"
    );
    cluster.apply("spread.yaml", DEPLOYMENT)?;
    wait_spread_on(cluster, &n2)?;
    ensure!(skiff(&["uncordon", &n1])? == format!("node/{n1} uncordoned\n"));

    // drain: refused while a pod has no controller or belongs to a DaemonSet, before
    // anything is evicted.
    cluster.apply("agents.yaml", DAEMON_SET)?;
    let daemon = daemon_pod_on(cluster, &n2)?;
    cluster.apply("lonely.yaml", &bare_pod("lonely", &n2, false))?;
    wait_running(cluster, "lonely")?;
    let before = cluster.pods("app=spread")?;
    let (stdout, stderr) = refused(cluster, &["drain", &n2])?;
    ensure!(stdout == format!("node/{n2} cordoned\n"), "{stdout}");
    for want in [
        format!("error: unable to drain node \"{n2}\" due to error: "),
        format!("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/{daemon}"),
        "cannot delete Pods that declare no controller (use --force to override): default/lonely".to_string(),
        format!(", continuing command...\nThere are pending nodes to be drained:\n {n2}\n"),
    ] {
        ensure!(stderr.contains(&want), "{want:?} not in {stderr}");
    }
    ensure!(cluster.pods("app=spread")? == before, "nothing evicted");
    wait_running(cluster, "lonely")?;

    let out = cluster.cp.skiff_output(&[
        "drain",
        &n2,
        "--force",
        "--ignore-daemonsets",
        "--timeout",
        "60s",
    ])?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    ensure!(out.status.success(), "{stdout}{stderr}");
    // kubectl joins its warnings after one `Warning:`.
    ensure!(
        stderr.contains(&format!(
            "Warning: ignoring DaemonSet-managed Pods: default/{daemon}; deleting Pods that declare no controller: default/lonely\n"
        )),
        "{stderr}"
    );
    ensure!(
        !stdout.contains(&format!("pod default/{daemon}")),
        "{stdout}"
    );
    ensure!(
        stdout.starts_with(&format!("node/{n2} already cordoned\n")),
        "{stdout}"
    );
    for pod in before.keys().chain(["lonely".to_string()].iter()) {
        ensure!(
            stdout.contains(&format!("evicting pod default/{pod}\n")),
            "{stdout}"
        );
        ensure!(stdout.contains(&format!("pod/{pod} evicted\n")), "{stdout}");
    }
    ensure!(
        stdout.ends_with(&format!("node/{n2} drained\n")),
        "{stdout}"
    );
    wait_gone(cluster, "lonely")?;
    wait_spread_on(cluster, &n1)?;
    // The DaemonSet's pod is still the one on the drained node.
    ensure!(
        daemon_pod_on(cluster, &n2)? == daemon,
        "{:?}",
        cluster.pods("app=agents")?
    );
    ensure!(skiff(&["uncordon", &n2])? == format!("node/{n2} uncordoned\n"));

    // taint NoExecute: what does not tolerate it goes, what does stays.
    cluster.apply("intolerant.yaml", &bare_pod("intolerant", &n1, false))?;
    cluster.apply("tolerant.yaml", &bare_pod("tolerant", &n1, true))?;
    wait_running(cluster, "intolerant")?;
    wait_running(cluster, "tolerant")?;
    let taint = ["taint", "nodes", &n1, "dedicated=ops:NoExecute"];
    ensure!(skiff(&taint)? == format!("node/{n1} tainted\n"));
    let (_, stderr) = refused(cluster, &taint)?;
    ensure!(
        stderr.trim()
            == format!("error: node {n1} already has dedicated taint(s) with same effect(s) and --overwrite is false"),
        "{stderr}"
    );
    wait_gone(cluster, "intolerant")?;
    // The Deployment's pods did not tolerate it either: back on the other node.
    wait_spread_on(cluster, &n2)?;
    wait_running(cluster, "tolerant")?;
    let untaint = ["taint", "nodes", &n1, "dedicated:NoExecute-"];
    ensure!(skiff(&untaint)? == format!("node/{n1} untainted\n"));
    Ok(())
}

#[test]
fn cordon_drain_and_taints_on_two_nodes() {
    MultiNode::run(two_nodes(), scenario);
}
