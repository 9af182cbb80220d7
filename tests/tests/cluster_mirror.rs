//! Static pods of a joined node show up in the control plane as mirror pods
//! (`<name>-<node>`, annotated `kubernetes.io/config.mirror`, status kept current); the
//! CLI reads their logs through the control plane; deleting one through the API makes
//! the node recreate the mirror and never touches the static pod; removing the manifest
//! removes the mirror.

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use skiff_e2e::pods::{phase, pod_uid, shell_pod};
use skiff_e2e::{wait_for, ClusterEnv};

fn mirror_running(env: &ClusterEnv, name: &str, not_uid: &str) -> anyhow::Result<Value> {
    wait_for(
        "the mirror pod Running",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let pod = env.cp.get_json("pod", name)?;
            if phase(&pod) == "Running" && pod_uid(&pod) != not_uid {
                Ok(pod)
            } else {
                bail!("mirror: {}", pod["status"])
            }
        },
    )
}

#[test]
fn static_pods_are_mirrored_and_survive_a_delete_of_their_mirror() {
    ClusterEnv::run(|env| {
        let script = "echo static-says-hi; sleep 100000";
        env.node
            .agent
            .write_manifest("web", &shell_pod("web", "busybox", script, ""))?;
        let nodes: Value = serde_json::from_str(&env.cp.skiff(&["get", "nodes", "-o", "json"])?)?;
        let node = nodes["items"][0]["metadata"]["name"]
            .as_str()
            .context("no node")?
            .to_string();
        let mirror_name = format!("web-{node}");
        let mirror = mirror_running(env, &mirror_name, "")?;
        ensure!(
            mirror["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string(),
            "no mirror annotation: {}",
            mirror["metadata"]
        );
        ensure!(
            mirror["spec"]["nodeName"] == node.as_str(),
            "mirror not bound: {mirror}"
        );
        ensure!(
            !mirror["status"]["podIP"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "the mirror's status has no IP: {}",
            mirror["status"]
        );
        let logs = wait_for(
            "the static pod's log",
            Duration::from_secs(20),
            Duration::from_millis(300),
            || {
                let logs = env.cp.skiff(&["logs", &mirror_name])?;
                if logs.contains("static-says-hi") {
                    Ok(logs)
                } else {
                    bail!("logs: {logs:?}")
                }
            },
        )?;
        ensure!(logs == "static-says-hi\n", "logs: {logs:?}");

        // The static pod as the node runs it: its one container.
        let local = env.node.agent.pod("web")?;
        let labels = [("io.skiff.pod.uid", pod_uid(&local))];
        let before = env.node.containerd.containers_with_labels(&labels)?;
        ensure!(before.len() == 1, "static pod containers: {before:?}");

        env.cp.skiff(&["delete", "pod", &mirror_name])?;
        let remade = mirror_running(env, &mirror_name, pod_uid(&mirror))?;
        ensure!(
            pod_uid(&remade) != pod_uid(&mirror),
            "the mirror was not made again"
        );
        let after = env.node.containerd.containers_with_labels(&labels)?;
        ensure!(
            after == before,
            "the static pod's container changed: {before:?} → {after:?}"
        );
        let task = env.node.containerd.task(&after[0])?.context("no task")?;
        ensure!(
            task.status == "RUNNING",
            "static container is {}",
            task.status
        );

        env.node.agent.remove_manifest("web")?;
        wait_for(
            "the mirror gone",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || {
                let out = env.cp.skiff_output(&["get", "pod", &mirror_name])?;
                if out.status.success() {
                    bail!("still there")
                } else {
                    Ok(())
                }
            },
        )?;
        Ok(())
    });
}
