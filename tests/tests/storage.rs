//! Storage on two joined nodes, each in its own network namespace (issue 14, item 5):
//! - a claim of the default class `local-path` stays Pending until a pod uses it; the
//!   pod is then scheduled and the claim Bound to a volume provisioned under that node's
//!   `--local-path-dir`, with that node's affinity;
//! - `skiff get pv,pvc,sc` prints kubectl's columns (`get pv pvc sc` asks for volumes
//!   named pvc and sc, as kubectl reads it);
//! - a second pod using the claim lands on the same node of the two (the spread would
//!   pick the other);
//! - deleting a claim in use leaves it Terminating (`describe pvc` names the pod);
//!   once the pod is gone (reclaim Delete) its directory on the node and its volume go; with a Retain class both stay, the volume Released;
//! - data written through the claim survives its pod, and its next pod reads it on the
//!   same node.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use skiff_e2e::multinode::{Layout, MultiNode, Options};
use skiff_e2e::wait_for;

fn two_nodes() -> Options {
    Options {
        nodes: 2,
        layout: Layout::OneSubnet,
        pod_network: None,
        proxy_mode: None,
        cp_args: Vec::new(),
    }
}

fn claim(name: &str, class: Option<&str>) -> String {
    let class = class.map_or(String::new(), |c| format!("  storageClassName: {c}\n"));
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n{class}  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 100Mi\n"
    )
}

/// A pod that mounts the claim at /data and runs `script`.
fn pod_with_claim(name: &str, claim: &str, script: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox:latest
      command: ["sh", "-c", "{script}"]
      volumeMounts:
        - name: data
          mountPath: /data
  volumes:
    - name: data
      persistentVolumeClaim:
        claimName: {claim}
"#
    )
}

const RETAIN_CLASS: &str = "\
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: keep
provisioner: skiff.io/local-path
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
";

fn phase(cluster: &MultiNode, kind: &str, name: &str) -> anyhow::Result<String> {
    let object = cluster.cp.get_json(kind, name)?;
    Ok(object["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

fn wait_phase(cluster: &MultiNode, kind: &str, name: &str, want: &str) -> anyhow::Result<()> {
    wait_for(
        &format!("{kind} {name} {want}"),
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let now = phase(cluster, kind, name)?;
            ensure!(now == want, "{kind} {name} is {now:?}");
            Ok(())
        },
    )
}

fn node_of(cluster: &MultiNode, pod: &str) -> anyhow::Result<String> {
    wait_for(
        &format!("pod {pod} scheduled"),
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let pod = cluster.cp.get_json("pod", pod)?;
            match pod["spec"]["nodeName"].as_str() {
                Some(node) => Ok(node.to_string()),
                None => bail!("not scheduled: {}", pod["status"]),
            }
        },
    )
}

fn node_index(node: &str) -> anyhow::Result<usize> {
    (0..2)
        .find(|i| MultiNode::node_name(*i) == node)
        .with_context(|| format!("unknown node {node}"))
}

/// The claim's volume as `(name, hostPath, the node its affinity names)`.
fn bound_volume(cluster: &MultiNode, claim: &str) -> anyhow::Result<(String, PathBuf, String)> {
    wait_phase(cluster, "pvc", claim, "Bound")?;
    let pvc = cluster.cp.get_json("pvc", claim)?;
    let name = pvc["spec"]["volumeName"]
        .as_str()
        .context("no volumeName")?
        .to_string();
    let uid = pvc["metadata"]["uid"].as_str().unwrap_or_default();
    ensure!(
        name == format!("pvc-{uid}"),
        "volume {name} for claim uid {uid}"
    );
    let pv = cluster.cp.get_json("pv", &name)?;
    let path = pv["spec"]["hostPath"]["path"]
        .as_str()
        .context("no hostPath")?;
    let term =
        &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0];
    ensure!(
        term["key"] == "kubernetes.io/hostname",
        "affinity: {}",
        pv["spec"]
    );
    let node = term["values"][0].as_str().unwrap_or_default().to_string();
    Ok((name, PathBuf::from(path), node))
}

fn gone(cluster: &MultiNode, kind: &str, name: &str) -> anyhow::Result<()> {
    wait_for(
        &format!("{kind} {name} deleted"),
        Duration::from_secs(60),
        Duration::from_millis(300),
        || match cluster.cp.get_json(kind, name) {
            Ok(object) => bail!("still there: {}", object["status"]),
            Err(_) => Ok(()),
        },
    )
}

/// Makes the volume's directory as the agent's mount does (`DirectoryOrCreate`) when no
/// pod has made it yet, with a file in it.
fn fill(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path)?;
    std::fs::write(path.join("kept.txt"), "kept\n")?;
    Ok(())
}

#[test]
fn claims_bind_when_first_used_and_their_pods_follow_the_volume() {
    MultiNode::run(two_nodes(), |cluster| {
        cluster.apply("claim.yaml", &claim("data", None))?;
        let pvc = cluster.cp.get_json("pvc", "data")?;
        ensure!(
            pvc["spec"]["storageClassName"] == "local-path",
            "default class: {pvc}"
        );
        wait_phase(cluster, "pvc", "data", "Pending")?;
        // Still Pending a while later: nothing uses it yet.
        std::thread::sleep(Duration::from_secs(2));
        ensure!(phase(cluster, "pvc", "data")? == "Pending");
        ensure!(cluster.cp.skiff(&["get", "pv"]).is_ok());

        cluster.apply("first.yaml", &pod_with_claim("first", "data", "sleep 3600"))?;
        let node = node_of(cluster, "first")?;
        let (volume, path, affinity) = bound_volume(cluster, "data")?;
        ensure!(affinity == node, "volume on {affinity}, pod on {node}");
        let root = cluster.local_path_dir(node_index(&node)?);
        ensure!(
            path.parent() == Some(root.as_path()),
            "{} not under {}",
            path.display(),
            root.display()
        );
        let dir_name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        ensure!(
            dir_name.starts_with(&format!("{volume}_default_data")),
            "{dir_name}"
        );

        // kubectl's columns, one table per kind, names as kind/name.
        let table = cluster.cp.skiff(&["get", "pv,pvc,sc"])?;
        for header in [
            "NAME",
            "CAPACITY",
            "ACCESS MODES",
            "RECLAIM POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE",
        ] {
            ensure!(
                table.lines().next().unwrap_or_default().contains(header),
                "{header} in {table}"
            );
        }
        let row = |prefix: &str| {
            table
                .lines()
                .find(|l| l.starts_with(prefix))
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .with_context(|| format!("no {prefix} row in\n{table}"))
        };
        let pv_row = row(&format!("persistentvolume/{volume}"))?;
        ensure!(
            pv_row[1..7]
                == [
                    "100Mi",
                    "RWO",
                    "Delete",
                    "Bound",
                    "default/data",
                    "local-path"
                ],
            "{pv_row:?}"
        );
        let pvc_row = row("persistentvolumeclaim/data")?;
        ensure!(
            pvc_row[1..6] == ["Bound", volume.as_str(), "100Mi", "RWO", "local-path"],
            "{pvc_row:?}"
        );
        let sc_row = row("storageclass.storage.k8s.io/local-path")?;
        ensure!(
            sc_row[1..6]
                == [
                    "(default)",
                    "skiff.io/local-path",
                    "Delete",
                    "WaitForFirstConsumer",
                    "false"
                ],
            "{sc_row:?}"
        );
        // Words after the kind are names, as kubectl reads them: `get pv pvc sc` asks
        // for the volumes named "pvc" and "sc".
        let spaced = cluster.cp.skiff_output(&["get", "pv", "pvc", "sc"])?;
        let err = String::from_utf8_lossy(&spaced.stderr);
        ensure!(
            !spaced.status.success()
                && err
                    .contains(r#"Error from server (NotFound): persistentvolumes "pvc" not found"#)
                && err
                    .contains(r#"Error from server (NotFound): persistentvolumes "sc" not found"#),
            "{err}"
        );

        // The next pods with the claim go to the volume's node, though the other node is
        // emptier.
        for name in ["second", "third"] {
            cluster.apply(
                &format!("{name}.yaml"),
                &pod_with_claim(name, "data", "sleep 3600"),
            )?;
            ensure!(node_of(cluster, name)? == node, "{name} not on {node}");
        }

        // A pod with a claim that does not exist stays Pending, saying why.
        cluster.apply("lost.yaml", &pod_with_claim("lost", "nowhere", "true"))?;
        wait_for(
            "the reason",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || {
                let pod = cluster.cp.get_json("pod", "lost")?;
                let text = pod["status"]["conditions"].to_string();
                ensure!(
                    text.contains(r#"persistentvolumeclaim \"nowhere\" not found"#),
                    "{text}"
                );
                Ok(())
            },
        )?;
        Ok(())
    });
}

#[test]
fn reclaim_delete_removes_the_directory_and_retain_keeps_it() {
    MultiNode::run(two_nodes(), |cluster| {
        cluster.apply("keep.yaml", RETAIN_CLASS)?;
        cluster.apply(
            "claims.yaml",
            &format!(
                "{}---\n{}",
                claim("gone", None),
                claim("kept", Some("keep"))
            ),
        )?;
        for name in ["gone", "kept"] {
            cluster.apply(
                &format!("use-{name}.yaml"),
                &pod_with_claim(&format!("use-{name}"), name, "sleep 3600"),
            )?;
        }
        let (gone_volume, gone_path, gone_node) = bound_volume(cluster, "gone")?;
        let (kept_volume, kept_path, _) = bound_volume(cluster, "kept")?;
        fill(&gone_path)?;
        fill(&kept_path)?;

        // In use: deleting the claim only marks it.
        cluster.cp.skiff(&["delete", "pvc", "gone"])?;
        std::thread::sleep(Duration::from_secs(2));
        let pvc: Value = cluster.cp.get_json("pvc", "gone")?;
        ensure!(pvc["metadata"]["deletionTimestamp"].is_string(), "{pvc}");
        let listed = cluster.cp.skiff(&["get", "pvc", "gone"])?;
        ensure!(listed.contains("Terminating"), "{listed}");
        ensure!(gone_path.exists(), "removed while in use");
        let described = cluster.cp.skiff(&["describe", "pvc", "gone"])?;
        ensure!(
            described.contains("Status:        Terminating")
                && described.contains("Used By:       use-gone"),
            "{described}"
        );

        cluster.cp.skiff(&["delete", "pod", "use-gone"])?;
        gone(cluster, "pvc", "gone")?;
        gone(cluster, "pv", &gone_volume)?;
        ensure!(
            !gone_path.exists(),
            "{} still on {gone_node}",
            gone_path.display()
        );

        cluster.cp.skiff(&["delete", "pod", "use-kept"])?;
        cluster.cp.skiff(&["delete", "pvc", "kept"])?;
        gone(cluster, "pvc", "kept")?;
        wait_phase(cluster, "pv", &kept_volume, "Released")?;
        // The agents look for released volumes every 3 s: give them several turns.
        std::thread::sleep(Duration::from_secs(8));
        ensure!(
            kept_path.join("kept.txt").exists(),
            "Retain lost {}",
            kept_path.display()
        );
        ensure!(phase(cluster, "pv", &kept_volume)? == "Released");
        Ok(())
    });
}

#[test]
fn data_written_through_a_claim_survives_its_pod() {
    MultiNode::run(two_nodes(), |cluster| {
        cluster.apply("claim.yaml", &claim("data", None))?;
        cluster.apply(
            "writer.yaml",
            &pod_with_claim("writer", "data", "echo hello > /data/greeting"),
        )?;
        let node = node_of(cluster, "writer")?;
        wait_phase(cluster, "pod", "writer", "Succeeded")?;
        let (_, path, _) = bound_volume(cluster, "data")?;
        ensure!(std::fs::read_to_string(path.join("greeting"))? == "hello\n");
        cluster.cp.skiff(&["delete", "pod", "writer"])?;
        gone(cluster, "pod", "writer")?;
        cluster.apply(
            "reader.yaml",
            &pod_with_claim("reader", "data", "cat /data/greeting"),
        )?;
        ensure!(node_of(cluster, "reader")? == node);
        wait_phase(cluster, "pod", "reader", "Succeeded")?;
        let logs = cluster.cp.skiff(&["logs", "reader"])?;
        ensure!(logs.trim() == "hello", "{logs}");
        Ok(())
    });
}
