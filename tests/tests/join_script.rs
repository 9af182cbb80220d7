//! `deploy/join.sh` as a user runs it on a new machine, against a real control plane: it
//! pins the CA from the token, downloads the agent the server keeps (put there by the
//! quickstart's own install step), starts it the way the quickstart does (here in the
//! background with a pid file: no systemd units are installed by a test) and the node
//! goes Ready. Packages are not installed (CI does that) and every path points into a
//! temporary directory. The node is a network namespace on a test bridge, the script run
//! in it with `nsenter --net` (as a machine of its own, reaching the server across the
//! bridge), and no `--node-ip`: the agent finds the address that routes to the server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use skiff_e2e::agent::{find_binary, HostState};
use skiff_e2e::multinode::{Layout, TestNet};
use skiff_e2e::{
    process, require_root_and_tools, serial, wait_for, TestContainerd, TestControlPlane,
};

const NODE: &str = "joined-by-script";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The quickstart's install step: the server keeps the binaries in `<data-dir>/bin/<arch>`.
fn keep_binaries(cp: &TestControlPlane) -> anyhow::Result<()> {
    let built = find_binary("skiff-agent")?;
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1/lib/node.sh" && skiff_keep_binaries "$2" "$3" "$(uname -m)""#)
        .arg("keep")
        .arg(deploy_dir())
        .arg(built.parent().context("the binaries' folder")?)
        .arg(cp.data())
        .output()?;
    ensure!(
        out.status.success(),
        "skiff_keep_binaries: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The quickstart's demo images, kept beside the binaries.
    let out = Command::new(find_binary("skiff_demo_images")?)
        .arg(arch_dir(cp))
        .output()?;
    ensure!(
        out.status.success(),
        "skiff_demo_images: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `<data-dir>/bin/<arch>`: what the server serves to joining nodes.
fn arch_dir(cp: &TestControlPlane) -> PathBuf {
    cp.data().join("bin").join(std::env::consts::ARCH)
}

/// A machine joined by the script: its prefix, agent root, /etc and pid files in one
/// tempdir. Dropping it stops the agent the script started (by its pid file), unmounts
/// what the agent mounted and removes the host-wide things that appeared meanwhile.
struct ScriptNode {
    dir: tempfile::TempDir,
    host_before: HostState,
}

impl ScriptNode {
    fn new() -> anyhow::Result<ScriptNode> {
        let dir = tempfile::Builder::new()
            .prefix("skiff-e2e-join-")
            .tempdir()?;
        Ok(ScriptNode {
            dir,
            host_before: HostState::read(),
        })
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Runs `deploy/join.sh SERVER TOKEN` with this node's paths: in the network
    /// namespace `netns` (entered with `nsenter --net` only) without `--node-ip`, or on
    /// this host's loopback.
    fn join(
        &self,
        server: &str,
        token: &str,
        containerd: &TestContainerd,
        netns: Option<&str>,
    ) -> anyhow::Result<Output> {
        let extra = format!(
            "--node-name {NODE} --containerd-namespace {}",
            containerd.namespace()
        );
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}"))
                    .arg("--")
                    .arg("bash");
                c
            }
            None => {
                let mut c = Command::new("bash");
                c.env("SKIFF_NODE_IP", "127.0.0.1");
                c
            }
        };
        let out = cmd
            .arg(deploy_dir().join("join.sh"))
            .args([server, token])
            .env("SKIFF_SKIP_PACKAGES", "1")
            .env("SKIFF_NO_SYSTEMD", "1")
            .env("SKIFF_PREFIX", self.path("prefix"))
            .env("SKIFF_AGENT_ROOT", self.path("root"))
            .env("SKIFF_ETC", self.path("etc"))
            .env("SKIFF_LOGS", self.path("logs"))
            .env("SKIFF_RUN", self.path("run"))
            .env("SKIFF_CONTAINERD_SOCK", containerd.socket())
            .env("SKIFF_AGENT_EXTRA_ARGS", extra)
            .output()
            .context("run deploy/join.sh")?;
        Ok(out)
    }

    fn agent_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.path("run/skiff-agent.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn log(&self) -> String {
        skiff_e2e::tail(&self.path("logs/skiff-agent.log"), 40)
    }
}

impl Drop for ScriptNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- joined agent log tail ---\n{}", self.log());
        }
        if let Some(pid) = self.agent_pid() {
            process::signal(pid, nix::sys::signal::Signal::SIGTERM);
            for _ in 0..100 {
                if !process::pid_alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            process::signal(pid, nix::sys::signal::Signal::SIGKILL);
        }
        process::unmount_under(self.dir.path());
        self.host_before.remove_what_appeared_since();
    }
}

fn ensure_ok(what: &str, out: &Output) -> anyhow::Result<()> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn wait_ready(cp: &TestControlPlane) -> anyhow::Result<()> {
    wait_for(
        "the joined node Ready",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let nodes = cp.skiff(&["get", "nodes"])?;
            let row = nodes
                .lines()
                .find(|l| l.split_whitespace().next() == Some(NODE));
            match row {
                Some(row) if row.split_whitespace().nth(1) == Some("Ready") => Ok(()),
                _ => bail!("nodes: {nodes}"),
            }
        },
    )
}

#[test]
fn join_sh_pins_the_ca_downloads_the_agent_and_the_node_goes_ready() {
    if !require_root_and_tools() {
        return;
    }
    let _serial = serial();
    // Dropped last: the node's namespace outlives its agent.
    let net = TestNet::create(1, Layout::OneSubnet).expect("test network");
    let netns = net.nodes[0].netns.clone();
    let containerd = TestContainerd::start().expect("containerd");
    let cp = TestControlPlane::start_on(net.host_ip.into(), &[]).expect("control plane");
    let node = ScriptNode::new().expect("node dir");
    let run = || -> anyhow::Result<()> {
        keep_binaries(&cp)?;
        let token = cp.token()?;
        ensure_ok(
            "join.sh",
            &node.join(&cp.url, &token, &containerd, Some(&netns))?,
        )?;
        wait_ready(&cp)?;
        let wide = cp.skiff(&["get", "nodes", "-o", "wide"])?;
        let want = net.nodes[0].ip.to_string();
        ensure!(
            wide.lines()
                .any(|l| l.starts_with(NODE) && l.split_whitespace().any(|w| w == want)),
            "the node should have registered {want}, the address routing to the server: {wide}"
        );

        let downloaded = std::fs::read(node.path("prefix/bin/skiff-agent"))?;
        let built = std::fs::read(find_binary("skiff-agent")?)?;
        ensure!(
            downloaded == built,
            "the installed agent is not the server's binary"
        );
        for image in ["skiff-demo-hostname.tar", "skiff-demo-httpd.tar"] {
            let fetched = std::fs::read(node.path("root/images").join(image))
                .with_context(|| format!("the demo image {image} was not fetched"))?;
            ensure!(
                fetched == std::fs::read(arch_dir(&cp).join(image))?,
                "{image} differs from the server's"
            );
        }
        let pinned = std::fs::read_to_string(node.path("etc/ca.crt"))?;
        let ca = std::fs::read_to_string(cp.data().join("pki/ca.crt"))?;
        ensure!(
            pinned.trim() == ca.trim(),
            "the pinned CA is not the cluster's"
        );

        // Again: the same node, its agent replaced by a new one, Ready again.
        let first = node.agent_pid().context("no pid file")?;
        ensure_ok(
            "join.sh (second run)",
            &node.join(&cp.url, &token, &containerd, Some(&netns))?,
        )?;
        let second = node.agent_pid().context("no pid file")?;
        ensure!(
            first != second && !process::pid_alive(first),
            "the first agent still runs"
        );
        wait_ready(&cp)?;
        let nodes = cp.skiff(&["get", "nodes"])?;
        ensure!(nodes.lines().count() == 2, "one node expected: {nodes}");
        Ok(())
    };
    if let Err(e) = run() {
        panic!("{e:#}");
    }
}

#[test]
fn a_token_pinning_another_ca_is_refused_before_anything_is_downloaded() {
    if !require_root_and_tools() {
        return;
    }
    let containerd = TestContainerd::start().expect("containerd");
    let cp = TestControlPlane::start().expect("control plane");
    keep_binaries(&cp).expect("binaries kept");
    let node = ScriptNode::new().expect("node dir");
    let token = cp.token().expect("token");
    let secret = token.split_once("::").expect("a K10 token").1;
    let forged = format!("K10{}::{secret}", "ab".repeat(32));
    let out = node
        .join(&cp.url, &forged, &containerd, None)
        .expect("join.sh runs");
    assert!(
        !out.status.success(),
        "join.sh accepted a CA the token does not pin"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the token pins"), "{stderr}");
    assert!(!node.path("prefix/bin/skiff-agent").exists());
    assert!(node.agent_pid().is_none());
}
