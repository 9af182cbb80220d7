//! A private etcd process for tests and benchmarks (the store conformance suite, the
//! migration test, e2e clusters): one member per [`EtcdMember`], killed by pid on drop.
//!
//! Not used by the control plane itself, which connects to an etcd the operator runs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where etcd is looked for (Debian's etcd-server installs /usr/bin/etcd).
pub fn etcd_binary() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/bin", "/usr/local/bin"])
        .map(|dir| Path::new(dir).join("etcd"))
        .find(|p| p.is_file());
    found
}

/// Whether a test that needs etcd can run: under `CI=true` a missing etcd panics (CI must
/// never skip silently), elsewhere it prints `skipped: ...` and the caller returns early.
pub fn require_etcd() -> bool {
    if etcd_binary().is_some() {
        return true;
    }
    let reason = "etcd not found (apt-get install etcd-server, see deploy/install-deps.sh)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{reason}");
    }
    eprintln!("skipped: {reason}");
    false
}

/// Server-side TLS for a member: clients must present a certificate signed by `ca`.
#[derive(Clone, Debug)]
pub struct EtcdServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One member's flags.
#[derive(Clone, Debug)]
pub struct EtcdMember {
    pub name: String,
    pub data_dir: PathBuf,
    /// `http://IP:PORT` (or `https://` with `tls`).
    pub client_url: String,
    pub peer_url: String,
    /// `name=peer_url,...` for every member (just this one for a single-member cluster).
    pub initial_cluster: String,
    pub tls: Option<EtcdServerTls>,
}

impl EtcdMember {
    /// A single-member cluster on free loopback ports, its data under `dir`.
    pub fn single(dir: &Path) -> std::io::Result<Self> {
        let client_url = format!("http://127.0.0.1:{}", free_port()?);
        let peer_url = format!("http://127.0.0.1:{}", free_port()?);
        Ok(EtcdMember {
            name: "skiff-test".into(),
            data_dir: dir.join("etcd"),
            initial_cluster: format!("skiff-test={peer_url}"),
            client_url,
            peer_url,
            tls: None,
        })
    }

    /// Serves clients over TLS (the client URL becomes `https://`).
    pub fn with_tls(mut self, tls: EtcdServerTls) -> Self {
        self.client_url = self.client_url.replacen("http://", "https://", 1);
        self.tls = Some(tls);
        self
    }

    /// The etcd command line (for a caller that must adjust it, e.g. enter a netns).
    pub fn command(&self) -> std::io::Result<Command> {
        let binary = etcd_binary().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "etcd not found in PATH")
        })?;
        std::fs::create_dir_all(&self.data_dir)?;
        let mut cmd = Command::new(binary);
        cmd.arg("--name")
            .arg(&self.name)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen-client-urls")
            .arg(&self.client_url)
            .arg("--advertise-client-urls")
            .arg(&self.client_url)
            .arg("--listen-peer-urls")
            .arg(&self.peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&self.peer_url)
            .arg("--initial-cluster")
            .arg(&self.initial_cluster)
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--initial-cluster-token")
            .arg("skiff-test");
        if let Some(tls) = &self.tls {
            cmd.arg("--cert-file")
                .arg(&tls.cert)
                .arg("--key-file")
                .arg(&tls.key)
                .arg("--trusted-ca-file")
                .arg(&tls.ca)
                .arg("--client-cert-auth");
        }
        // etcd 3.4 refuses to start on arm64 unless told it is fine (the Pi).
        if cfg!(target_arch = "aarch64") {
            cmd.env("ETCD_UNSUPPORTED_ARCH", "arm64");
        }
        let log = std::fs::File::create(self.data_dir.with_extension("log"))?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        Ok(cmd)
    }

    /// Starts the member (it serves once a quorum of the cluster is up).
    pub fn spawn(&self) -> std::io::Result<EtcdProcess> {
        let child = self.command()?.spawn()?;
        Ok(EtcdProcess {
            child,
            member: self.clone(),
        })
    }

    /// The client address (host:port) of the client URL.
    pub fn client_addr(&self) -> SocketAddr {
        let hostport = self.client_url.split("://").nth(1).unwrap_or_default();
        hostport.parse().expect("client URL is http(s)://IP:PORT")
    }
}

/// A running etcd member; killed (by pid) and reaped when dropped.
pub struct EtcdProcess {
    child: Child,
    pub member: EtcdMember,
}

impl EtcdProcess {
    /// `start(dir, name, client_url, peer_url, initial_cluster)`: one member of a cluster.
    pub fn start(
        dir: &Path,
        name: &str,
        client_url: &str,
        peer_url: &str,
        initial_cluster: &str,
    ) -> std::io::Result<Self> {
        EtcdMember {
            name: name.into(),
            data_dir: dir.to_path_buf(),
            client_url: client_url.into(),
            peer_url: peer_url.into(),
            initial_cluster: initial_cluster.into(),
            tls: None,
        }
        .spawn()
    }

    /// A single-member etcd on free loopback ports, healthy when this returns.
    pub fn start_single(dir: &Path) -> std::io::Result<Self> {
        let etcd = EtcdMember::single(dir)?.spawn()?;
        etcd.wait_healthy(Duration::from_secs(30))?;
        Ok(etcd)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The endpoint a client connects to (`http://127.0.0.1:PORT`).
    pub fn client_url(&self) -> &str {
        &self.member.client_url
    }

    /// Waits until the member answers `/health` with a leader (plain HTTP members), or
    /// until its client port accepts connections (TLS members).
    pub fn wait_healthy(&self, timeout: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + timeout;
        let addr = self.member.client_addr();
        loop {
            let ready = if self.member.tls.is_some() {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            } else {
                healthy(addr).unwrap_or(false)
            };
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "etcd {} not healthy after {timeout:?} (log: {})",
                        self.member.client_url,
                        self.member.data_dir.with_extension("log").display()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the member (SIGKILL, by pid) and reaps it; idempotent.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET /health` on a plain-HTTP member: `{"health":"true"}` once it has a leader.
pub fn healthy(addr: SocketAddr) -> std::io::Result<bool> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        conn,
        "GET /health HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    conn.read_to_string(&mut response)?;
    Ok(response.contains("\"health\":\"true\""))
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
