//! A joined cluster for end-to-end tests: a `skiff-control-plane` process with its own data
//! dir, and one agent (the standard standalone setup of [`crate::env`]) joined to it with
//! the node token. Tests drive it through the `skiff` CLI with the generated admin.conf,
//! as a user would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::agent::find_binary;
use crate::env::StandaloneEnv;
use crate::{free_port, wait_for};

/// The control plane process, killed on drop (its log tail is printed when a test panics).
pub struct TestControlPlane {
    child: Option<Child>,
    dir: tempfile::TempDir,
    listen: std::net::IpAddr,
    port: u16,
    extra_args: Vec<String>,
    /// A network namespace (`/run/netns/NAME`) the server runs in, entered with
    /// `nsenter --net` only (an HA test's server on a machine of its own).
    netns: Option<String>,
    pub url: String,
}

impl TestControlPlane {
    /// Starts a control plane on a free port of 127.0.0.1 and waits for its node token.
    pub fn start() -> anyhow::Result<TestControlPlane> {
        Self::start_with_args(&[])
    }

    /// [`Self::start`] with extra flags (`--node-grace 5s`, say).
    pub fn start_with_args(args: &[&str]) -> anyhow::Result<TestControlPlane> {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST.into(), args)
    }

    /// [`Self::start_with_args`] listening on `listen` (a multi-node test bridge's host
    /// address), which admin.conf then names.
    pub fn start_on(listen: std::net::IpAddr, args: &[&str]) -> anyhow::Result<TestControlPlane> {
        let mut cp = Self::new(None, listen, free_port()?, args)?;
        cp.launch()?;
        Ok(cp)
    }

    /// A server in network namespace `netns` listening on `listen:port`, started but not
    /// waited for (its store may not be reachable yet): see [`Self::wait_serving`].
    pub fn spawn_in(
        netns: &str,
        listen: std::net::IpAddr,
        port: u16,
        args: &[&str],
    ) -> anyhow::Result<TestControlPlane> {
        let mut cp = Self::new(Some(netns.to_string()), listen, port, args)?;
        cp.spawn()?;
        Ok(cp)
    }

    fn new(
        netns: Option<String>,
        listen: std::net::IpAddr,
        port: u16,
        args: &[&str],
    ) -> anyhow::Result<TestControlPlane> {
        Ok(TestControlPlane {
            child: None,
            dir: tempfile::tempdir()?,
            listen,
            port,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            netns,
            url: format!("https://{}", std::net::SocketAddr::new(listen, port)),
        })
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        self.wait_serving(Duration::from_secs(20))
    }

    /// The process, inside its network namespace when it has one (nsenter execs it, so
    /// the child's pid is the server's).
    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let bin = find_binary("skiff-control-plane")?;
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut cmd = Command::new("nsenter");
                cmd.arg(format!("--net=/run/netns/{ns}")).arg("--").arg(bin);
                cmd
            }
            None => Command::new(bin),
        };
        let child = cmd
            .arg("--data-dir")
            .arg(self.data())
            .arg("--listen")
            .arg(std::net::SocketAddr::new(self.listen, self.port).to_string())
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start skiff-control-plane")?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the node token is written and the API answers the CLI.
    pub fn wait_serving(&self, timeout: Duration) -> anyhow::Result<()> {
        wait_for(
            "the node token",
            timeout,
            Duration::from_millis(100),
            || std::fs::read_to_string(self.data().join("node-token")).context("no node-token yet"),
        )?;
        wait_for(
            "the API answering",
            timeout,
            Duration::from_millis(100),
            || self.skiff(&["get", "namespaces"]),
        )?;
        Ok(())
    }

    /// `kill -9` of the control plane process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process has exited (reaping it), with its status.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Starts the control plane again on the same data dir and port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill9();
        self.launch()
    }

    /// Starts the control plane again on the same data dir and port with `args` in place
    /// of the flags it was started with (`--store etcd://...` after a migration).
    pub fn restart_with_args(&mut self, args: &[&str]) -> anyhow::Result<()> {
        self.extra_args = args.iter().map(|a| a.to_string()).collect();
        self.restart()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A scratch directory that lives as long as the control plane (for manifests).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub fn token(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.data().join("node-token"))?
            .trim()
            .to_string())
    }

    /// Runs the `skiff` CLI against this control plane, whatever its exit status.
    pub fn skiff_output(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new(find_binary("skiff")?)
            .env("SKIFF_CONFIG", self.data().join("admin.conf"))
            .args(args)
            .output()
            .context("run skiff")
    }

    /// Runs the `skiff` CLI against this control plane; a non-zero exit is an error that
    /// carries its stderr.
    pub fn skiff(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.skiff_output(args)?;
        if !out.status.success() {
            bail!(
                "skiff {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `skiff get KIND NAME -o json`, parsed.
    pub fn get_json(&self, kind: &str, name: &str) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(
            &self.skiff(&["get", kind, name, "-o", "json"])?,
        )?)
    }

    /// Writes a manifest into the scratch dir and applies it.
    pub fn apply_yaml(&self, name: &str, yaml: &str) -> anyhow::Result<String> {
        let path = self.scratch().join(name);
        std::fs::write(&path, yaml)?;
        self.skiff(&["apply", "-f", path.to_str().unwrap_or_default()])
    }

    /// Waits until pod `name` (in `default`) is Running; returns it.
    pub fn wait_pod_running(&self, name: &str) -> anyhow::Result<Value> {
        wait_for(
            &format!("pod {name} Running"),
            Duration::from_secs(60),
            Duration::from_millis(300),
            || {
                let pod = self.get_json("pod", name)?;
                if crate::pods::phase(&pod) == "Running" {
                    Ok(pod)
                } else {
                    bail!("status: {}", pod["status"])
                }
            },
        )
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("cp.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for TestControlPlane {
    fn drop(&mut self) {
        self.kill9();
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

/// A control plane and one joined node (the standard standalone setup plus `--server`
/// and `--token`, node IP 127.0.0.1). Fields drop in order: the node first, so its agent
/// is not left reconciling against a dead control plane.
pub struct ClusterEnv {
    pub node: StandaloneEnv,
    pub cp: TestControlPlane,
}

impl ClusterEnv {
    /// Starts both and waits until the node is Ready.
    pub fn start() -> anyhow::Result<ClusterEnv> {
        Self::start_with_args(&[], &[])
    }

    /// [`Self::start`] with extra control-plane and agent flags.
    pub fn start_with_args(cp_args: &[&str], agent_args: &[&str]) -> anyhow::Result<ClusterEnv> {
        let cp = TestControlPlane::start_with_args(cp_args)?;
        let token = cp.token()?;
        let mut args = vec!["--server", cp.url.as_str(), "--token", token.as_str()];
        // 127.0.0.1 unless the test gives the node an address of its own.
        if !agent_args.contains(&"--node-ip") {
            args.extend(["--node-ip", "127.0.0.1"]);
        }
        args.extend_from_slice(agent_args);
        let node = StandaloneEnv::start_with_args(&args, |_| Ok(()))?;
        let env = ClusterEnv { node, cp };
        env.wait_node_ready()?;
        Ok(env)
    }

    /// Runs one scenario; an error from `body` becomes a panic while everything is alive,
    /// so the drops print the logs' tails.
    pub fn run(body: impl FnOnce(&mut ClusterEnv) -> anyhow::Result<()>) {
        Self::run_with_args(&[], &[], body)
    }

    /// [`Self::run`] with extra control-plane and agent flags.
    pub fn run_with_args(
        cp_args: &[&str],
        agent_args: &[&str],
        body: impl FnOnce(&mut ClusterEnv) -> anyhow::Result<()>,
    ) {
        if !crate::require_root_and_tools() {
            return;
        }
        let mut env = Self::start_with_args(cp_args, agent_args)
            .unwrap_or_else(|e| panic!("setting up: {e:#}"));
        if let Err(e) = body(&mut env) {
            panic!("{e:#}");
        }
    }

    /// Waits until every node `skiff get nodes` lists is Ready.
    pub fn wait_node_ready(&self) -> anyhow::Result<()> {
        wait_for(
            "the node Ready",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || {
                let nodes = self.cp.skiff(&["get", "nodes"])?;
                if nodes.contains("Ready") && !nodes.contains("NotReady") {
                    Ok(())
                } else {
                    bail!("nodes: {nodes}")
                }
            },
        )
    }

    /// The path of one of the user's manifests, kept verbatim in `tests/manifests/`.
    pub fn user_manifest(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("manifests")
            .join(name)
    }
}
