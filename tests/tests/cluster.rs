//! A joined node: the control plane runs, the agent registers with the node token, the
//! user's `nginx-pod.yaml` applied through the API runs on the node with its status
//! reported back, and deleting it removes the container.

use std::time::Duration;

use anyhow::bail;
use skiff_e2e::pods::{phase, pod_uid};
use skiff_e2e::{wait_for, ClusterEnv};

#[test]
fn joined_node_runs_the_users_nginx_pod_and_reports_status() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        let manifest = ClusterEnv::user_manifest("nginx-pod.yaml");
        let applied = cp.skiff(&["apply", "-f", manifest.to_str().unwrap_or_default()])?;
        anyhow::ensure!(applied.contains("created"), "apply said: {applied}");
        let pod = wait_for(
            "my-nginx-pod Running with an IP",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || {
                let pod = cp.get_json("pod", "my-nginx-pod")?;
                let ip = pod["status"]["podIP"].as_str().unwrap_or_default();
                if phase(&pod) == "Running" && !ip.is_empty() {
                    Ok(pod)
                } else {
                    bail!("status: {}", pod["status"])
                }
            },
        )?;
        let listed = cp.skiff(&["get", "pods"])?;
        anyhow::ensure!(
            listed.contains("my-nginx-pod") && listed.contains("Running"),
            "get pods: {listed}"
        );
        let ip = pod["status"]["podIP"].as_str().unwrap_or_default();
        let described = cp.skiff(&["describe", "pod", "my-nginx-pod"])?;
        anyhow::ensure!(
            described.contains(ip),
            "describe lacks the IP {ip}: {described}"
        );
        let again = cp.skiff(&["apply", "-f", manifest.to_str().unwrap_or_default()])?;
        anyhow::ensure!(again.contains("unchanged"), "second apply said: {again}");

        let uid = pod_uid(&pod).to_string();
        let labels = [("io.skiff.pod.uid", uid.as_str())];
        let containers = env.node.containerd.containers_with_labels(&labels)?;
        anyhow::ensure!(
            containers.len() == 1,
            "expected one container for the pod in containerd, found {containers:?}"
        );
        cp.skiff(&["delete", "pod", "my-nginx-pod"])?;
        wait_for(
            "the container gone",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || {
                let ids = env.node.containerd.containers_with_labels(&labels)?;
                if ids.is_empty() {
                    Ok(())
                } else {
                    bail!("still there: {ids:?}")
                }
            },
        )?;
        Ok(())
    });
}
