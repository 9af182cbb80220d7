//! The `skiff-agent` under test, run standalone on static manifests against a
//! [`TestContainerd`](crate::TestContainerd), plus the `skiff` CLI pointed at its socket.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use tempfile::TempDir;

use crate::containerd::TestContainerd;
use crate::process;

/// The node name every standalone test agent runs as.
pub const NODE_NAME: &str = "test-node";

/// How to start the agent: which containerd, which registry mirrors, extra flags.
#[derive(Debug, Clone)]
pub struct AgentOpts {
    pub containerd_socket: PathBuf,
    pub containerd_namespace: String,
    /// `(registry host, endpoint URL)` pairs written to registries.yaml as mirrors.
    pub mirrors: Vec<(String, String)>,
    /// Extra command-line arguments, appended last.
    pub extra_args: Vec<String>,
    /// `--node-name`.
    pub node_name: String,
    /// A network namespace (`/run/netns/NAME`) the agent runs in, entered with
    /// `nsenter --net` only: `ip netns exec` would also give it a private mount namespace
    /// that hides the pods' namespace mounts from containerd.
    pub netns: Option<String>,
}

impl AgentOpts {
    /// Options for an agent on this containerd, no mirrors.
    pub fn new(containerd: &TestContainerd) -> Self {
        AgentOpts {
            containerd_socket: containerd.socket().to_path_buf(),
            containerd_namespace: containerd.namespace().to_string(),
            mirrors: Vec::new(),
            extra_args: Vec::new(),
            node_name: NODE_NAME.to_string(),
            netns: None,
        }
    }

    /// Adds a registries.yaml mirror (`docker.io` → `http://127.0.0.1:PORT`).
    pub fn mirror(mut self, host: &str, endpoint: &str) -> Self {
        self.mirrors.push((host.to_string(), endpoint.to_string()));
        self
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_string());
        self
    }

    /// The k3s-style registries.yaml for these mirrors.
    pub fn registries_yaml(&self) -> String {
        if self.mirrors.is_empty() {
            return "mirrors: {}\n".to_string();
        }
        let mut yaml = String::from("mirrors:\n");
        for (host, endpoint) in &self.mirrors {
            yaml.push_str(&format!(
                "  \"{host}\":\n    endpoint:\n      - \"{endpoint}\"\n"
            ));
        }
        yaml
    }
}

/// A running agent with its own root, manifests, images and socket in a tempdir.
pub struct TestAgent {
    child: Option<Child>,
    opts: AgentOpts,
    log: PathBuf,
    host_before: HostState,
    dir: TempDir,
}

impl TestAgent {
    /// Starts `skiff-agent` and waits until its socket appears.
    pub fn start(opts: AgentOpts) -> anyhow::Result<Self> {
        let mut agent = Self::new_stopped(opts)?;
        agent.launch()?;
        Ok(agent)
    }

    /// Prepares the directories without starting the agent, for tests that must put
    /// something in place first (an archive in `--images`); then call [`Self::launch`].
    pub fn new_stopped(opts: AgentOpts) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("skiff-e2e-agent-")
            .tempdir()?;
        for sub in ["root", "manifests", "images"] {
            std::fs::create_dir_all(dir.path().join(sub))?;
        }
        std::fs::write(dir.path().join("registries.yaml"), opts.registries_yaml())?;
        let log = dir.path().join("agent.log");
        let host_before = HostState::read();
        Ok(TestAgent {
            child: None,
            opts,
            log,
            host_before,
            dir,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `--root`: pods/ (logs), sandboxes/ (namespace files), agent state.
    pub fn root(&self) -> PathBuf {
        self.dir().join("root")
    }

    /// `--manifests`: the static pod directory.
    pub fn manifests_dir(&self) -> PathBuf {
        self.dir().join("manifests")
    }

    /// `--images`: archives imported at start.
    pub fn images_dir(&self) -> PathBuf {
        self.dir().join("images")
    }

    /// `--socket`: the agent API the CLI talks to.
    pub fn socket(&self) -> PathBuf {
        self.dir().join("agent.sock")
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the agent logged so far (across restarts).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The agent's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the agent process is still alive (it must survive bad input).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// `kill -9` the agent: no chance to clean up, as in a crash or OOM kill.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the agent again with the same flags and directories (kills it first if running).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill9();
        self.launch()
    }

    /// Writes a static pod manifest atomically (write elsewhere, rename in), so the agent
    /// never reads half a file. `name` gets `.yaml` unless it has an extension.
    pub fn write_manifest(&self, name: &str, yaml: &str) -> anyhow::Result<PathBuf> {
        let file = manifest_file_name(name);
        let staging = self.dir().join(format!(".staging-{file}"));
        std::fs::write(&staging, yaml)?;
        let path = self.manifests_dir().join(&file);
        std::fs::rename(&staging, &path)?;
        Ok(path)
    }

    /// Removes a static pod manifest; the agent must stop and remove its pod.
    pub fn remove_manifest(&self, name: &str) -> anyhow::Result<()> {
        let path = self.manifests_dir().join(manifest_file_name(name));
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))
    }

    /// Runs `skiff --agent unix://SOCK ARGS...` (30 s limit) and returns its output.
    pub fn skiff(&self, args: &[&str]) -> anyhow::Result<Output> {
        let mut cmd = Command::new(find_binary("skiff")?);
        cmd.arg("--agent")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args);
        process::output_timeout(&mut cmd, Duration::from_secs(30))
    }

    /// Like [`Self::skiff`], but a non-zero exit is an error; returns stdout.
    pub fn skiff_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.skiff(args)?;
        if !out.status.success() {
            bail!(
                "skiff {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `bin`, inside the agent's network namespace when it has one. nsenter execs it, so
    /// the child's pid is the program's.
    fn command(&self, bin: &Path) -> Command {
        match &self.opts.netns {
            Some(ns) => {
                let mut cmd = Command::new("nsenter");
                cmd.arg(format!("--net=/run/netns/{ns}")).arg("--").arg(bin);
                cmd
            }
            None => Command::new(bin),
        }
    }

    /// `skiff-agent cleanup` where the agent ran (its network namespace), once it stopped.
    pub fn cleanup(&self) -> anyhow::Result<String> {
        let bin = find_binary("skiff-agent")?;
        process::run(self.command(&bin).arg("cleanup"))
    }

    /// Starts the agent process and waits for its socket; fails with the log tail if the
    /// agent exits or never listens.
    pub fn launch(&mut self) -> anyhow::Result<()> {
        let bin = find_binary("skiff-agent")?;
        let socket = self.socket();
        let _ = std::fs::remove_file(&socket); // a kill -9'd agent leaves its socket behind
        let mut log = File::options().create(true).append(true).open(&self.log)?;
        std::io::Write::write_all(&mut log, b"--- skiff-e2e: starting skiff-agent ---\n")?;
        let d = self.dir.path();
        let mut cmd = self.command(&bin);
        cmd.args(["--node-name", &self.opts.node_name, "--root"])
            .arg(d.join("root"))
            .arg("--containerd")
            .arg(&self.opts.containerd_socket)
            .args([
                "--containerd-namespace",
                &self.opts.containerd_namespace,
                "--manifests",
            ])
            .arg(d.join("manifests"))
            .arg("--images")
            .arg(d.join("images"))
            .arg("--registries")
            .arg(d.join("registries.yaml"))
            .arg("--socket")
            .arg(&socket)
            .args(&self.opts.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            // An error's backtrace would push its message out of the log tail.
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.child = Some(
            cmd.spawn()
                .with_context(|| format!("cannot start {}", bin.display()))?,
        );
        let ready = crate::wait_for(
            "the agent socket",
            Duration::from_secs(30),
            Duration::from_millis(20),
            || {
                if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                    return Err(crate::fatal(format!("skiff-agent exited ({status})")));
                }
                if !socket.exists() {
                    bail!("no socket at {}", socket.display());
                }
                Ok(())
            },
        );
        ready.map_err(|e| {
            self.child = None;
            anyhow::anyhow!(
                "{e:#}\n--- agent log tail ---\n{}",
                crate::tail(&self.log, 40)
            )
        })
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- agent log tail ({}) ---\n{}",
                self.log.display(),
                crate::tail(&self.log, 60)
            );
        }
        if let Some(mut child) = self.child.take() {
            process::terminate(&mut child, Duration::from_secs(5));
        }
        process::unmount_under(self.dir.path());
        if self.opts.netns.is_some() {
            // Its namespace is the test's own: clean it whatever else runs on the host.
            if let Err(e) = self.cleanup() {
                eprintln!("skiff-agent cleanup in {:?}: {e:#}", self.opts.netns);
            }
        } else {
            self.host_before.remove_what_appeared_since();
        }
    }
}

/// `name` → `name.yaml` unless it already has an extension.
fn manifest_file_name(name: &str) -> String {
    if Path::new(name).extension().is_some() {
        name.to_string()
    } else {
        format!("{name}.yaml")
    }
}

/// Finds a workspace binary next to the running one: test binaries live in
/// `target/<profile>/deps/`, `cargo run` binaries in `target/<profile>/`.
/// `SKIFF_E2E_BIN_DIR` overrides.
pub fn find_binary(name: &str) -> anyhow::Result<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(dir) = std::env::var("SKIFF_E2E_BIN_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    let exe = std::env::current_exe()?;
    dirs.extend(exe.ancestors().skip(1).take(2).map(Path::to_path_buf));
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "{name} binary not found (looked in {dirs:?}): run `cargo build --workspace` \
             (with the same profile as the tests) first"
            )
        })
}

/// Host-wide things the agent creates (`skiff0` bridge, the `skiff.1` vxlan device of a
/// joined node with a non-loopback address, `skiff` nftables tables), noted before it
/// starts so only what appeared during the test is removed afterwards.
pub struct HostState {
    bridge: bool,
    vxlan: bool,
    tables: Vec<String>,
}

impl HostState {
    pub fn read() -> Self {
        HostState {
            bridge: Path::new("/sys/class/net/skiff0").exists(),
            vxlan: Path::new("/sys/class/net/skiff.1").exists(),
            tables: skiff_tables(),
        }
    }

    /// Skipped while another skiff-agent runs on this host (a quickstart, a real node):
    /// what appeared may be its, and removing it would cut off its pods.
    pub fn remove_what_appeared_since(&self) {
        if other_agent_running() {
            return;
        }
        if !self.bridge && Path::new("/sys/class/net/skiff0").exists() {
            let _ = process::output(Command::new("ip").args(["link", "del", "skiff0"]));
        }
        // Its neighbour and FDB entries and the routes through it go with it.
        if !self.vxlan && Path::new("/sys/class/net/skiff.1").exists() {
            let _ = process::output(Command::new("ip").args(["link", "del", "skiff.1"]));
        }
        for table in skiff_tables() {
            if !self.tables.contains(&table) {
                let args: Vec<&str> = ["delete"]
                    .into_iter()
                    .chain(table.split_whitespace())
                    .collect();
                let _ = process::output(Command::new("nft").args(args));
            }
        }
    }
}

/// Whether any skiff-agent process is alive in this network namespace (ours has been
/// stopped when this is asked). The bridge, the vxlan device and the tables belong to a
/// network namespace, so an agent in another one (a node of a multi-node test, a
/// quickstart in a namespace of its own) does not hold them.
pub fn other_agent_running() -> bool {
    let ours = std::fs::read_link("/proc/self/ns/net").ok();
    let procs = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    procs
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            let net = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
            exe.file_name().is_some_and(|n| n == "skiff-agent")
                && (net.is_none() || net == ours)
                && process::pid_alive(pid)
        })
}

/// `table <family> skiff...` lines of `nft list tables`.
fn skiff_tables() -> Vec<String> {
    let out = process::output(Command::new("nft").args(["list", "tables"]));
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| {
            l.split_whitespace()
                .nth(2)
                .is_some_and(|name| name.starts_with("skiff"))
        })
        .map(String::from)
        .collect()
}
