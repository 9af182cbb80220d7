//! Pod sandboxes without a pause container: a network, UTS and IPC namespace per pod,
//! kept alive by bind mounts under `<root>/sandboxes/<pod-uid>/{net,uts,ipc}` (what
//! `ip netns add` does), so they outlive every container and the agent itself.
//!
//! Other mount namespaces never pin a removed sandbox: the directory is made a shared bind
//! mount of itself, as `ip netns` does with `/run/netns`, so namespaces copied from the
//! host (runc before its pivot_root, systemd's private mounts) receive our unmounts; and
//! even copies made private let go when `remove` unlinks the files, since the kernel
//! (≥ 3.18) detaches mounts on unlinked files in every namespace. Checked both ways with
//! `unshare -m --propagation unchanged|slave|private`.
//!
//! Calls are blocking but short (a thread spawn and a few syscalls).

#[cfg(test)]
mod fake;
mod ops;

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use tracing::{debug, info, warn};

pub(crate) use ops::mount_points;
pub use ops::{HostOps, NamespaceOps};

/// The namespaces a sandbox holds, by their `/proc/<pid>/ns/` names.
pub const NAMESPACES: [&str; 3] = ["net", "uts", "ipc"];

/// Linux allows 64, Kubernetes truncates pod hostnames to 63.
const MAX_HOSTNAME: usize = 63;

/// Bounds the unmount loop when binds got stacked by an earlier crash.
const MAX_STACKED_MOUNTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid pod uid {0:?}")]
    InvalidUid(String),
    #[error("invalid hostname {0:?}")]
    InvalidHostname(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError::Io { context, source }
}

/// A pod's namespaces, as files that containers join by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    pub uid: String,
    pub net: PathBuf,
    pub uts: PathBuf,
    pub ipc: PathBuf,
}

impl Sandbox {
    fn files(&self) -> [(&'static str, &Path); 3] {
        [("net", &self.net), ("uts", &self.uts), ("ipc", &self.ipc)]
    }
}

pub struct Sandboxes {
    dir: PathBuf,
    ops: Arc<dyn NamespaceOps>,
    /// Serialises create/remove so two callers never half-build the same sandbox, and
    /// remembers whether the directory was already made a shared mount.
    lock: Mutex<bool>,
}

impl Sandboxes {
    /// Sandboxes under `<root>/sandboxes`, with real syscalls.
    pub fn new(root: &Path) -> Self {
        Self::with_ops(root, Arc::new(HostOps))
    }

    pub fn with_ops(root: &Path, ops: Arc<dyn NamespaceOps>) -> Self {
        Self {
            dir: root.join("sandboxes"),
            ops,
            lock: Mutex::new(false),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the network namespace of pod `uid` is pinned (port-forward dials in it).
    pub fn net_path(&self, uid: &str) -> PathBuf {
        self.paths(uid).net
    }

    fn paths(&self, uid: &str) -> Sandbox {
        let dir = self.dir.join(uid);
        Sandbox {
            uid: uid.to_string(),
            net: dir.join("net"),
            uts: dir.join("uts"),
            ipc: dir.join("ipc"),
        }
    }

    /// Creates the pod's namespaces, or returns the existing ones if all three are
    /// already mounted (after an agent restart). A half-built sandbox is rebuilt.
    pub fn create(&self, uid: &str, hostname: &str) -> Result<Sandbox, SandboxError> {
        check_uid(uid)?;
        let hostname = pod_hostname(hostname)?;
        let mut shared = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if !*shared {
            self.ensure_shared_dir()?;
            *shared = true;
        }
        let sandbox = self.paths(uid);
        if sandbox.files().iter().all(|(_, p)| self.ops.is_ns_mount(p)) {
            debug!(pod_uid = %uid, "sandbox reused");
            return Ok(sandbox);
        }
        self.teardown(&sandbox)?;
        let dir = self.dir.join(uid);
        fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
        for (_, path) in sandbox.files() {
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o444)
                .open(path)
                .map_err(io_err(format!("create {}", path.display())))?;
        }
        if let Err(e) = self.spawn_namespaces(&sandbox, &hostname) {
            if let Err(cleanup) = self.teardown(&sandbox) {
                warn!(pod_uid = %uid, error = %cleanup, "sandbox cleanup failed");
            }
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        info!(pod_uid = %uid, hostname = %hostname, "sandbox created");
        Ok(sandbox)
    }

    /// The sandbox of `uid` if all its namespaces are mounted.
    pub fn get(&self, uid: &str) -> Result<Option<Sandbox>, SandboxError> {
        check_uid(uid)?;
        let sandbox = self.paths(uid);
        let mounted = sandbox.files().iter().all(|(_, p)| self.ops.is_ns_mount(p));
        Ok(mounted.then_some(sandbox))
    }

    /// Unmounts and deletes the sandbox; removing a missing sandbox succeeds.
    pub fn remove(&self, uid: &str) -> Result<(), SandboxError> {
        check_uid(uid)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let sandbox = self.paths(uid);
        self.teardown(&sandbox)?;
        let dir = self.dir.join(uid);
        match fs::remove_dir_all(&dir) {
            Ok(()) => info!(pod_uid = %uid, "sandbox removed"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("remove {}", dir.display()))(e)),
        }
        // runc removes each container's cgroup but not the pod's parent. Busy means a
        // container still runs: not fatal here, the next remove retries.
        let cgroup = pod_cgroup(uid);
        if let Err(e) = self.ops.remove_cgroup(&cgroup) {
            warn!(pod_uid = %uid, cgroup = %cgroup.display(), error = %e, "pod cgroup not removed");
        }
        Ok(())
    }

    /// Pod uids with a sandbox directory, complete or not, for garbage collection.
    pub fn list(&self) -> Result<Vec<String>, SandboxError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(format!("read {}", self.dir.display()))(e)),
        };
        let mut uids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(format!("read {}", self.dir.display())))?;
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if let Some(name) = entry.file_name().to_str() {
                if is_dir && check_uid(name).is_ok() {
                    uids.push(name.to_string());
                }
            }
        }
        uids.sort();
        Ok(uids)
    }

    /// Drops the shared self-bind of the sandboxes directory once no sandbox is left
    /// (tests and uninstall; the agent itself keeps it, like `ip netns`).
    pub fn unmount_dir(&self) -> Result<(), SandboxError> {
        let mut shared = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if !self.list()?.is_empty() || !self.dir.exists() {
            return Ok(());
        }
        if self.ops.is_mount_point(&self.dir).unwrap_or(false) {
            self.ops
                .umount(&self.dir, MntFlags::MNT_DETACH)
                .map_err(io_err(format!("unmount {}", self.dir.display())))?;
        }
        *shared = false;
        Ok(())
    }

    fn ensure_shared_dir(&self) -> Result<(), SandboxError> {
        let dir = &self.dir;
        fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        let is_mount = self
            .ops
            .is_mount_point(dir)
            .map_err(io_err(format!("inspect mounts of {}", dir.display())))?;
        if !is_mount {
            self.ops
                .mount(Some(dir), dir, MsFlags::MS_BIND | MsFlags::MS_REC)
                .map_err(io_err(format!("bind {} onto itself", dir.display())))?;
        }
        self.ops
            .mount(None, dir, MsFlags::MS_SHARED | MsFlags::MS_REC)
            .map_err(io_err(format!("make {} shared", dir.display())))
    }

    /// Runs the namespace work on a throwaway thread: unshare moves only the calling
    /// thread, and the thread's namespaces live on through the bind mounts.
    fn spawn_namespaces(&self, sandbox: &Sandbox, hostname: &str) -> Result<(), SandboxError> {
        let ops = Arc::clone(&self.ops);
        let sandbox = sandbox.clone();
        let hostname = hostname.to_string();
        let work = move || -> Result<(), SandboxError> {
            let flags =
                CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
            ops.unshare(flags)
                .map_err(io_err("unshare net, uts, ipc"))?;
            ops.set_hostname(&hostname)
                .map_err(io_err("set hostname"))?;
            ops.loopback_up().map_err(io_err("bring lo up"))?;
            for (kind, target) in sandbox.files() {
                let source = ops.thread_ns_path(kind);
                ops.mount(Some(&source), target, MsFlags::MS_BIND)
                    .map_err(io_err(format!(
                        "bind {kind} namespace to {}",
                        target.display()
                    )))?;
            }
            Ok(())
        };
        std::thread::Builder::new()
            .name("skiff-sandbox".into())
            .spawn(work)
            .map_err(io_err("spawn sandbox thread"))?
            .join()
            .unwrap_or_else(|_| {
                Err(SandboxError::Io {
                    context: "sandbox thread".into(),
                    source: io::Error::other("panicked"),
                })
            })
    }

    /// Unmounts every namespace bind of the sandbox (stacked ones too).
    fn teardown(&self, sandbox: &Sandbox) -> Result<(), SandboxError> {
        for (_, path) in sandbox.files() {
            for _ in 0..MAX_STACKED_MOUNTS {
                if !self.ops.is_ns_mount(path) {
                    break;
                }
                match self.ops.umount(path, MntFlags::MNT_DETACH) {
                    Ok(()) => {}
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {
                        break
                    }
                    Err(e) => return Err(io_err(format!("unmount {}", path.display()))(e)),
                }
            }
        }
        Ok(())
    }
}

/// The pod's parent cgroup, cgroupfs style (`/skiff/pod<uid>`), valid on v1 and v2;
/// containers live in `<this>/<container-id>`.
pub fn pod_cgroup(uid: &str) -> PathBuf {
    PathBuf::from(format!("/skiff/pod{uid}"))
}

/// Uids name directories, so they must be one plain path component.
fn check_uid(uid: &str) -> Result<(), SandboxError> {
    let ok = !uid.is_empty()
        && uid.len() <= 128
        && uid != "."
        && uid != ".."
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(SandboxError::InvalidUid(uid.to_string()))
    }
}

/// Truncates like the kubelet: at 63 characters, without a trailing `-` or `.`.
pub fn pod_hostname(name: &str) -> Result<String, SandboxError> {
    let mut host: String = name.chars().take(MAX_HOSTNAME).collect();
    while host.ends_with(['-', '.']) {
        host.pop();
    }
    if host.is_empty() || host.contains('\0') {
        return Err(SandboxError::InvalidHostname(name.to_string()));
    }
    Ok(host)
}

#[cfg(test)]
mod tests;
