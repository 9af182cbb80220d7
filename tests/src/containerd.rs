//! A private containerd for one test: its own root, state and socket in a tempdir, so tests
//! never touch the system containerd and leave nothing behind (tasks, mounts, files).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use tempfile::TempDir;

use crate::process::{self, run};

/// The containerd namespace the agent under test is pointed at.
pub const NAMESPACE: &str = "skiff";

/// A running (or deliberately stopped) containerd owned by the test.
pub struct TestContainerd {
    child: Option<Child>,
    socket: PathBuf,
    config: PathBuf,
    log: PathBuf,
    // Last field: removed only after Drop has stopped everything and unmounted.
    dir: TempDir,
}

/// One row of `ctr t ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub pid: u32,
    pub status: String,
}

impl TestContainerd {
    /// Writes a config (`version = 2`, CRI disabled, private root/state/socket) and starts
    /// containerd, returning once `ctr version` gets an answer from it.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("skiff-e2e-ctrd-")
            .tempdir()?;
        let socket = dir.path().join("containerd.sock");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_toml(dir.path(), &socket))?;
        let log = dir.path().join("containerd.log");
        let mut me = TestContainerd {
            child: None,
            socket,
            config,
            log,
            dir,
        };
        me.spawn()?;
        Ok(me)
    }

    /// containerd's gRPC socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The containerd namespace tests and the agent use.
    pub fn namespace(&self) -> &'static str {
        NAMESPACE
    }

    /// containerd's `root` (content, snapshots, metadata).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// containerd's `state` (task bundles, rootfs mounts).
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// containerd's own log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// containerd's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs `ctr --address SOCK -n skiff ARGS...` and returns its stdout.
    pub fn ctr(&self, args: &[&str]) -> anyhow::Result<String> {
        self.ctr_in(NAMESPACE, args)
    }

    /// Like [`Self::ctr`], in another containerd namespace.
    pub fn ctr_in(&self, namespace: &str, args: &[&str]) -> anyhow::Result<String> {
        run(self.ctr_command(namespace).args(args))
    }

    /// A `ctr` command bound to this containerd, for callers that need the raw output.
    pub fn ctr_command(&self, namespace: &str) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .args(["--connect-timeout", "5s", "-n", namespace]);
        cmd
    }

    /// Tasks in the `skiff` namespace (`ctr t ls`).
    pub fn tasks(&self) -> anyhow::Result<Vec<Task>> {
        let out = self.ctr(&["tasks", "ls"])?;
        let mut tasks = Vec::new();
        for line in out.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if let [id, pid, status, ..] = cols[..] {
                tasks.push(Task {
                    id: id.into(),
                    pid: pid.parse()?,
                    status: status.into(),
                });
            }
        }
        Ok(tasks)
    }

    /// The task of one container, if it has one.
    pub fn task(&self, id: &str) -> anyhow::Result<Option<Task>> {
        Ok(self.tasks()?.into_iter().find(|t| t.id == id))
    }

    /// Ids of containers carrying label `key=value` (the agent labels pod uid, name and
    /// container name, which is how tests find a pod's containers without the agent).
    pub fn containers_with_label(&self, key: &str, value: &str) -> anyhow::Result<Vec<String>> {
        self.containers_with_labels(&[(key, value)])
    }

    /// Ids of containers carrying all of these labels.
    pub fn containers_with_labels(&self, labels: &[(&str, &str)]) -> anyhow::Result<Vec<String>> {
        let filter: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("labels.\"{k}\"=={v}"))
            .collect();
        let out = self.ctr(&["containers", "ls", "-q", &filter.join(",")])?;
        Ok(out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    /// `ctr c info ID` as JSON (Labels, SnapshotKey, Image, Spec...).
    pub fn container_info(&self, id: &str) -> anyhow::Result<serde_json::Value> {
        let out = self.ctr(&["containers", "info", id])?;
        serde_json::from_str(&out).with_context(|| format!("ctr c info {id}: not JSON"))
    }

    /// Snapshot keys of the default (overlayfs) snapshotter.
    pub fn snapshots(&self) -> anyhow::Result<Vec<String>> {
        let out = self.ctr(&["snapshots", "ls"])?;
        Ok(out
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .map(String::from)
            .collect())
    }

    /// Image names in the `skiff` namespace.
    pub fn images(&self) -> anyhow::Result<Vec<String>> {
        let out = self.ctr(&["images", "ls", "-q"])?;
        Ok(out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    /// Stops containerd (SIGTERM, then SIGKILL). Tasks keep running in their shims, as they
    /// would when a real containerd is restarted.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::terminate(&mut child, Duration::from_secs(10));
        }
    }

    /// Starts containerd again on the same root, state and socket.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start containerd (apt-get install containerd)")?;
        self.child = Some(child);
        let ready = crate::wait_for(
            "containerd to answer `ctr version`",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                    return Err(crate::fatal(format!("containerd exited ({status})")));
                }
                if !self.socket.exists() {
                    bail!("no socket yet at {}", self.socket.display());
                }
                run(Command::new("ctr")
                    .arg("--address")
                    .arg(&self.socket)
                    .arg("version"))
            },
        );
        ready.map(drop).with_context(|| {
            format!(
                "containerd did not come up; log tail:\n{}",
                crate::tail(&self.log, 30)
            )
        })
    }

    /// Kills and removes every task and container in every namespace of this containerd.
    fn remove_all_containers(&self) {
        let namespaces = self
            .ctr_in("default", &["namespaces", "ls", "-q"])
            .unwrap_or_default();
        for ns in namespaces.lines().map(str::trim).filter(|n| !n.is_empty()) {
            let ids = self
                .ctr_in(ns, &["containers", "ls", "-q"])
                .unwrap_or_default();
            for id in ids.lines().map(str::trim).filter(|i| !i.is_empty()) {
                let _ = self.ctr_in(ns, &["tasks", "kill", "-s", "KILL", id]);
                let _ = self.ctr_in(ns, &["tasks", "rm", "-f", id]);
                let _ = self.ctr_in(ns, &["containers", "rm", id]);
            }
        }
    }

    /// Last resort when containerd cannot be reached: kill the shims and container inits
    /// it started, found by the pid files in its own state dir.
    fn kill_leftover_pids(&self) {
        let tasks = self.state().join("io.containerd.runtime.v2.task");
        let bundles = std::fs::read_dir(&tasks).into_iter().flatten().flatten();
        for ns in bundles {
            for bundle in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                for file in ["init.pid", "shim.pid"] {
                    let pid = std::fs::read_to_string(bundle.path().join(file)).unwrap_or_default();
                    if let Ok(pid) = pid.trim().parse::<u32>() {
                        process::signal(pid, nix::sys::signal::Signal::SIGKILL);
                    }
                }
            }
        }
    }

    /// The shim processes of this containerd, found by the `-address <our socket>` they
    /// were started with (shims are not containerd's children: they daemonize).
    pub fn shim_pids(&self) -> Vec<u32> {
        let address = self.socket.to_string_lossy();
        let is_shim = |pid: &u32| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.starts_with("containerd-shim")
        };
        process::pids_with_arg(&address)
            .into_iter()
            .filter(is_shim)
            .collect()
    }

    /// Shims of this containerd that outlived it (a task deleted while containerd was
    /// going down can leave one), found by the `-address <our socket>` they were started
    /// with; they and the container processes under them are killed.
    fn kill_orphaned_shims(&self) {
        for shim in self.shim_pids() {
            for child in process::children_of(shim) {
                process::signal(child, nix::sys::signal::Signal::SIGKILL);
            }
            process::signal(shim, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Drop for TestContainerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- containerd log tail ({}) ---\n{}",
                self.log.display(),
                crate::tail(&self.log, 20)
            );
        }
        // A stopped containerd is brought back so it can clean up its tasks properly.
        if self.child.is_none() && self.spawn().is_err() {
            self.stop();
        }
        self.remove_all_containers();
        self.kill_leftover_pids();
        self.stop();
        self.kill_orphaned_shims();
        process::unmount_under(self.dir.path());
    }
}

fn config_toml(dir: &Path, socket: &Path) -> String {
    let d = dir.display();
    let s = socket.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{s}"

[ttrpc]
  address = "{s}.ttrpc"

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
    )
}
