//! End-to-end harness for skiff: a private containerd, a local registry, test images built
//! from Debian's busybox-static, and a `skiff-agent` under test. Everything runs for real,
//! as root; every piece cleans up after itself in `Drop`, also when a test panics.
//!
//! ```text
//! cargo build --workspace && cargo test -p skiff-e2e -- --test-threads=1
//! cargo build --release --workspace && cargo run --release -p skiff-e2e --bin bench_pod_start
//! ```
//!
//! The agent and CLI binaries are found next to the test binary (`target/<profile>/`), or
//! in `$SKIFF_E2E_BIN_DIR`. Without root or the tools of `deploy/install-deps.sh` a test
//! prints `skipped: ...`, except under `CI=true`, where it fails.

pub mod agent;
pub mod archive;
/// Percentiles and the `ctr run -d` floor for the benchmarks (the cluster area).
pub mod bench;
pub mod cluster;
pub mod containerd;
pub mod env;
/// Real etcd members in network namespaces, for the HA tests.
pub mod etcd;
/// RSS, PSS and where a process's pages are, for bench_footprint.
pub mod footprint;
/// Three etcd members, two control-plane servers and a node, each in its own netns.
pub mod ha;
/// Writes at a steady rate to several servers, recording what was acknowledged.
pub mod ha_writes;
pub mod http;
pub mod images;
/// A `kube::Client` from a test cluster's admin.conf.
pub mod kube_client;
/// The real kubectl with a test cluster's admin.conf.
pub mod kubectl;
/// Several nodes in network namespaces on a test bridge, one control plane on the host.
pub mod multinode;
pub mod net;
pub mod pods;
pub mod probing;
pub mod process;
pub mod registry;
/// A plain HTTPS client of the REST API with the admin certificate.
pub mod rest;
/// `ctr events` task starts, for benchmarks timing pod starts.
pub mod task_events;
// workloads: following a workload's pods through a REST watch
pub mod workloads;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use agent::{AgentOpts, TestAgent};
pub use cluster::{ClusterEnv, TestControlPlane};
pub use containerd::TestContainerd;
pub use env::StandaloneEnv;
pub use images::{ImageVariant, TestImage};
pub use registry::TestRegistry;

/// Commands the e2e tests run; missing ones mean the machine was not set up with
/// `deploy/install-deps.sh`.
const TOOLS: &[&str] = &["containerd", "runc", "ctr", "docker-registry", "nft", "ip"];

/// Where the test images take their only binary from (Debian's `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// Says whether this machine can run the e2e tests. Under `CI=true` a missing prerequisite
/// panics (CI must never skip silently); elsewhere it prints `skipped: <reason>` and the
/// test returns early.
pub fn require_root_and_tools() -> bool {
    let missing = missing_prerequisites();
    if missing.is_empty() {
        return true;
    }
    let reason = format!("e2e prerequisites missing: {}", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{reason} (CI=true: run deploy/install-deps.sh and run the tests as root)");
    }
    eprintln!("skipped: {reason}");
    false
}

fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root (run as uid 0)".to_string());
    }
    for tool in TOOLS {
        if which(tool).is_none() {
            missing.push(format!("`{tool}` in PATH"));
        }
    }
    if !Path::new(BUSYBOX).is_file() {
        missing.push(format!("{BUSYBOX} (apt-get install busybox-static)"));
    }
    missing
}

/// Finds an executable in `PATH` (plus the sbin dirs, which a non-login root shell may lack).
pub fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.is_file());
    found
}

/// One e2e scenario at a time on this machine: agents share host-wide names (the `skiff0`
/// bridge, the `skiff` nftables table), so tests must not overlap, whether they run in
/// one test binary without `--test-threads=1` or in several processes at once.
pub struct SerialGuard {
    _thread: MutexGuard<'static, ()>,
    _host: nix::fcntl::Flock<std::fs::File>,
}

/// Where the host-wide e2e lock lives.
const HOST_LOCK: &str = "/run/lock/skiff-e2e.lock";

pub fn serial() -> SerialGuard {
    static LOCK: Mutex<()> = Mutex::new(());
    let thread = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let _ = std::fs::create_dir_all("/run/lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(HOST_LOCK)
        .unwrap_or_else(|e| panic!("open {HOST_LOCK}: {e}"));
    let host = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("lock {HOST_LOCK}: {e}"));
    SerialGuard {
        _thread: thread,
        _host: host,
    }
}

/// An observation that waiting cannot change (a process exited): [`wait_for`] gives up at
/// once instead of polling until its timeout.
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

/// Makes an error [`wait_for`] does not retry.
pub fn fatal(msg: impl Into<String>) -> anyhow::Error {
    Fatal(msg.into()).into()
}

/// Polls `check` until it returns `Ok`, or fails after `timeout` with the last observation
/// (the last `Err` the check returned), so a failing test says what it saw, not just "timeout".
/// A [`Fatal`] error anywhere in the chain ends the wait at once.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut check: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return Ok(value),
            Err(err) if err.chain().any(|e| e.is::<Fatal>()) => {
                anyhow::bail!(
                    "gave up waiting for {what} after {:.1?}: {err:#}",
                    start.elapsed()
                );
            }
            Err(err) if start.elapsed() >= timeout => {
                anyhow::bail!(
                    "timed out after {:.1?} waiting for {what}; last observation: {err:#}",
                    start.elapsed()
                );
            }
            Err(_) => std::thread::sleep(poll),
        }
    }
}

/// Finds a free TCP port on 127.0.0.1 by binding port 0 and letting it go again.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A unique suffix for names (container ids, repos) so runs and tests never collide.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// The last `lines` lines of a text file, for failure reports.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
