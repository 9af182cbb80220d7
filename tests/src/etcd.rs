//! A real etcd cluster for HA tests: one Debian `etcd` member per network namespace
//! (entered with `nsenter --net` only), plain HTTP on port 2379 (clients) and 2380
//! (peers) of the namespace's address. Members are started, killed (SIGKILL, by pid) and
//! restarted on their data dirs one at a time; everything is killed on drop.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::wait_for;

pub const CLIENT_PORT: u16 = 2379;
pub const PEER_PORT: u16 = 2380;

/// Whether etcd is installed (CI fails without it): the control plane's test helper.
pub use skiff_control_plane::store::etcd::process::require_etcd;
use skiff_control_plane::store::etcd::process::{etcd_binary, healthy};

/// Where one member lives.
#[derive(Debug, Clone)]
pub struct MemberNet {
    pub name: String,
    pub netns: String,
    pub ip: Ipv4Addr,
}

struct Member {
    net: MemberNet,
    child: Option<Child>,
}

/// The cluster; members are killed on drop (their data lives in `dir`).
pub struct EtcdCluster {
    members: Vec<Member>,
    dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Starts one member per entry of `nets` and waits until every one reports health.
    pub fn start(nets: Vec<MemberNet>) -> anyhow::Result<EtcdCluster> {
        let dir = tempfile::Builder::new()
            .prefix("skiff-e2e-etcd-")
            .tempdir()?;
        let mut cluster = EtcdCluster {
            members: nets
                .into_iter()
                .map(|net| Member { net, child: None })
                .collect(),
            dir,
        };
        for i in 0..cluster.members.len() {
            cluster.launch(i)?;
        }
        for i in 0..cluster.members.len() {
            cluster.wait_healthy(i, Duration::from_secs(60))?;
        }
        Ok(cluster)
    }

    /// `--initial-cluster`: every member's peer URL.
    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://{}:{PEER_PORT}", m.net.name, m.net.ip))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.members[i].net.name)
    }

    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.log", self.members[i].net.name))
    }

    /// Starts member `i` (again, on its data dir: `--initial-cluster-state new` is
    /// ignored by a member that already has data).
    fn launch(&mut self, i: usize) -> anyhow::Result<()> {
        let initial = self.initial_cluster();
        let data = self.data_dir(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))?;
        let net = &self.members[i].net;
        let client = format!("http://{}:{CLIENT_PORT}", net.ip);
        let peer = format!("http://{}:{PEER_PORT}", net.ip);
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", net.netns))
            .arg("--")
            .arg(etcd_binary().unwrap_or_else(|| "/usr/bin/etcd".into()))
            .args(["--name", &net.name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "skiff-e2e"])
            // Quick elections: the test kills members and wants the rest to go on.
            .args(["--heartbeat-interval", "100", "--election-timeout", "1000"]);
        if cfg!(target_arch = "aarch64") {
            cmd.env("ETCD_UNSUPPORTED_ARCH", "arm64");
        }
        // nsenter execs etcd: the child's pid is the member's.
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start etcd")?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// `HOST:PORT,...` of every member, for `--store etcd://...`.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}:{CLIENT_PORT}", m.net.ip))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].child.as_ref().map(Child::id)
    }

    /// SIGKILL of member `i`, by pid; idempotent.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed member again on its data; returns once it reports health.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        self.launch(i)?;
        self.wait_healthy(i, Duration::from_secs(60))
    }

    /// Starts a killed member again without waiting (it cannot be healthy alone).
    pub fn relaunch(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        self.launch(i)
    }

    /// Whether member `i` answers `/health` with `"health":"true"` right now.
    pub fn is_healthy(&self, i: usize) -> bool {
        healthy(SocketAddr::from((self.members[i].net.ip, CLIENT_PORT))).unwrap_or(false)
    }

    /// Waits until member `i` answers `/health` with `"health":"true"` (it has a leader
    /// and a quorum).
    pub fn wait_healthy(&mut self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        let addr = SocketAddr::from((self.members[i].net.ip, CLIENT_PORT));
        let name = self.members[i].net.name.clone();
        let log = self.log_path(i);
        wait_for(
            &format!("etcd member {name} healthy"),
            timeout,
            Duration::from_millis(200),
            || {
                if let Some(child) = self.members[i].child.as_mut() {
                    if let Some(status) = child.try_wait()? {
                        return Err(crate::fatal(format!(
                            "etcd {name} exited ({status}): {}",
                            crate::tail(&log, 10)
                        )));
                    }
                }
                match healthy(addr) {
                    Ok(true) => Ok(()),
                    Ok(false) => bail!("{addr}: not healthy yet"),
                    Err(e) => bail!("{addr}: {e}"),
                }
            },
        )
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        if std::thread::panicking() {
            for i in 0..self.members.len() {
                eprintln!("--- etcd {} log tail ---", self.members[i].net.name);
                eprintln!("{}", crate::tail(&self.log_path(i), 15));
            }
        }
    }
}
