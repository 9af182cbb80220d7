//! A joined node: the control plane runs, the agent registers with the node token, a pod
//! applied through the API runs on the node with its status reported back, and deleting
//! it removes the container.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use skiff_e2e::agent::find_binary;
use skiff_e2e::pods::{phase, pod_uid, shell_pod};
use skiff_e2e::{free_port, wait_for, StandaloneEnv};

/// The control plane process, killed on drop.
struct ControlPlane {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
}

impl ControlPlane {
    fn start() -> anyhow::Result<ControlPlane> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("cp.log"))?;
        let child = Command::new(find_binary("skiff-control-plane")?)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start skiff-control-plane")?;
        let cp = ControlPlane {
            child,
            dir,
            url: format!("https://127.0.0.1:{port}"),
        };
        wait_for(
            "the node token",
            Duration::from_secs(20),
            Duration::from_millis(100),
            || std::fs::read_to_string(cp.data().join("node-token")).context("no node-token yet"),
        )?;
        std::thread::sleep(Duration::from_millis(500));
        Ok(cp)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn token(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.data().join("node-token"))?
            .trim()
            .to_string())
    }

    /// Runs the `skiff` CLI against this control plane.
    fn skiff(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(find_binary("skiff")?)
            .env("SKIFF_CONFIG", self.data().join("admin.conf"))
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "skiff {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cp.log")).unwrap_or_default()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- control plane log tail ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

#[test]
fn joined_node_runs_api_pods_and_reports_status() {
    if !skiff_e2e::require_root_and_tools() {
        return;
    }
    let cp = ControlPlane::start().expect("control plane");
    let token = cp.token().expect("token");
    let args = [
        "--server",
        cp.url.as_str(),
        "--token",
        token.as_str(),
        "--node-ip",
        "127.0.0.1",
    ];
    let env = StandaloneEnv::start_with_args(&args, |_| Ok(())).expect("agent");
    if let Err(e) = scenario(&cp, &env) {
        panic!("{e:#}");
    }
}

fn scenario(cp: &ControlPlane, env: &StandaloneEnv) -> anyhow::Result<()> {
    wait_for(
        "the node Ready",
        Duration::from_secs(30),
        Duration::from_millis(300),
        || {
            let nodes = cp.skiff(&["get", "nodes"])?;
            if nodes.contains("Ready") && !nodes.contains("NotReady") {
                Ok(())
            } else {
                bail!("nodes: {nodes}")
            }
        },
    )?;
    let manifest = shell_pod("web", "busybox:latest", "sleep 3600", "");
    let path = write(env.agent.dir(), "web.yaml", &manifest)?;
    cp.skiff(&["apply", "-f", path.to_str().unwrap_or_default()])?;
    let pod = wait_for(
        "web Running with an IP",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            let pod: Value =
                serde_json::from_str(&cp.skiff(&["get", "pod", "web", "-o", "json"])?)?;
            let ip = pod["status"]["podIP"].as_str().unwrap_or_default();
            if phase(&pod) == "Running" && !ip.is_empty() {
                Ok(pod)
            } else {
                bail!("status: {}", pod["status"])
            }
        },
    )?;
    let uid = pod_uid(&pod).to_string();
    let labels = [("io.skiff.pod.uid", uid.as_str())];
    anyhow::ensure!(
        !env.containerd.containers_with_labels(&labels)?.is_empty(),
        "no container for the pod in containerd"
    );
    cp.skiff(&["delete", "pod", "web"])?;
    wait_for(
        "the container gone",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            let ids = env.containerd.containers_with_labels(&labels)?;
            if ids.is_empty() {
                Ok(())
            } else {
                bail!("still there: {ids:?}")
            }
        },
    )?;
    Ok(())
}
