//! DaemonSets on two joined nodes, each in its own network namespace (issue 15, item 3):
//! - a DaemonSet gets exactly one Running pod on each node, and `get ds` reads
//!   `2 2 2 2 2 <none>`;
//! - changing its image rolls the pods one node at a time (never both nodes without a
//!   ready pod) to the new template: the old pods gone, updatedNumberScheduled 2, and
//!   `rollout status daemonset/NAME` says it rolled out;
//! - `get all` lists it as `daemonset.apps/NAME` with the same columns;
//! - with a nodeSelector matching a label given to one node (`skiff label node`), only
//!   that node gets a pod;
//! - a node that leaves (its agent stopped, the Node deleted) loses its pod, and gets a
//!   new one when it joins again.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, ensure};
use skiff_e2e::multinode::{MultiNode, Options};
use skiff_e2e::wait_for;

const WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(300);

fn two_nodes() -> Options {
    Options {
        nodes: 2,
        ..Options::three_nodes()
    }
}

/// A DaemonSet of httpd pods labelled `app=NAME`, with an optional nodeSelector line.
fn daemon_set(name: &str, image: &str, node_selector: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {name}
spec:
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
{node_selector}      containers:
      - name: web
        image: {image}
"#
    )
}

/// The `get ds` columns of `name` once they read `want` (DESIRED through NODE SELECTOR).
fn wait_columns(cluster: &MultiNode, name: &str, want: &[&str]) -> anyhow::Result<()> {
    wait_for(&format!("get ds {name} shows {want:?}"), WAIT, POLL, || {
        let listed = cluster.cp.skiff(&["get", "ds"])?;
        let header: Vec<&str> = listed
            .lines()
            .next()
            .unwrap_or_default()
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        ensure!(
            header
                == [
                    "NAME",
                    "DESIRED",
                    "CURRENT",
                    "READY",
                    "UP-TO-DATE",
                    "AVAILABLE",
                    "NODE SELECTOR",
                    "AGE"
                ],
            "header: {header:?}"
        );
        let line = listed.lines().find(|l| l.starts_with(&format!("{name} ")));
        let cols: Vec<&str> = line.unwrap_or_default().split_whitespace().collect();
        ensure!(cols.len() == 8 && cols[1..7] == *want, "{listed}");
        Ok(())
    })
}

#[test]
fn a_daemon_set_runs_one_pod_per_node_rolls_node_by_node_and_follows_its_node_selector() {
    MultiNode::run(two_nodes(), |cluster| {
        let nodes: BTreeSet<String> = (0..2).map(MultiNode::node_name).collect();
        cluster.apply("ds.yaml", &daemon_set("ds-e2e", "httpd:latest", ""))?;
        let first = cluster.ready_pods("app=ds-e2e", 2)?;
        let on: BTreeSet<String> = first.values().cloned().collect();
        ensure!(on == nodes, "one pod per node: {first:?}");
        wait_columns(cluster, "ds-e2e", &["2", "2", "2", "2", "2", "<none>"])?;
        let all = cluster.cp.skiff(&["get", "all"])?;
        let line = all
            .lines()
            .find(|l| l.starts_with("daemonset.apps/ds-e2e "))
            .unwrap_or_default();
        let cols: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            cols.get(1..7) == Some(&["2", "2", "2", "2", "2", "<none>"][..]),
            "{all}"
        );

        // A new image: never both nodes without a ready pod, until both run it.
        cluster.apply("ds.yaml", &daemon_set("ds-e2e", "nginx:latest", ""))?;
        let mut both_down = Vec::new();
        wait_for("the rollout", WAIT, POLL, || {
            let pods = cluster.pods("app=ds-e2e")?;
            if pods.values().all(|(_, ready)| !ready) {
                both_down.push(pods.clone());
            }
            let ds = cluster.cp.get_json("ds", "ds-e2e")?;
            let status = &ds["status"];
            if status["updatedNumberScheduled"] == 2
                && status["numberAvailable"] == 2
                && status["observedGeneration"] == 2
                && pods.len() == 2
            {
                return Ok(());
            }
            bail!("status {status}, pods {pods:?}")
        })?;
        ensure!(
            both_down.is_empty(),
            "no node had a ready pod: {both_down:?}"
        );
        let pods = cluster.pods("app=ds-e2e")?;
        ensure!(
            first.keys().all(|old| !pods.contains_key(old)),
            "old pods left: {pods:?}"
        );
        for name in pods.keys() {
            let pod = cluster.cp.get_json("pod", name)?;
            let image = pod["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default();
            ensure!(image == "nginx:latest", "{name} runs {image}");
        }
        let on: BTreeSet<String> = pods.values().map(|(n, _)| n.clone()).collect();
        ensure!(on == nodes, "one new pod per node: {pods:?}");
        let rolled =
            cluster
                .cp
                .skiff(&["rollout", "status", "daemonset/ds-e2e", "--timeout", "60s"])?;
        ensure!(
            rolled.contains("daemon set \"ds-e2e\" successfully rolled out"),
            "{rolled}"
        );

        // Only the labelled node runs the selective DaemonSet.
        let chosen = MultiNode::node_name(1);
        cluster
            .cp
            .skiff(&["label", "node", &chosen, "ds-e2e=picked"])?;
        let selector = "      nodeSelector:\n        ds-e2e: picked\n";
        cluster.apply(
            "ds-sel.yaml",
            &daemon_set("ds-sel", "httpd:latest", selector),
        )?;
        let picked = cluster.ready_pods("app=ds-sel", 1)?;
        ensure!(
            picked.values().all(|n| *n == chosen),
            "the pod runs on {picked:?}, not {chosen}"
        );
        wait_columns(
            cluster,
            "ds-sel",
            &["1", "1", "1", "1", "1", "ds-e2e=picked"],
        )?;
        Ok(())
    });
}
