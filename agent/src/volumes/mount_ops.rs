//! The mount syscalls volumes need (tmpfs for secrets and memory-backed emptyDirs),
//! behind a trait so unit tests run without root (the split of `pod_sandbox::NamespaceOps`).

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

pub trait MountOps: Send + Sync + 'static {
    /// Mounts a fresh tmpfs on the existing directory `target`; `size` caps it in bytes.
    fn mount_tmpfs(&self, target: &Path, size: Option<u64>) -> io::Result<()>;
    /// Detaches the mount on `target` (lazily: a process still inside keeps its view).
    fn unmount(&self, target: &Path) -> io::Result<()>;
    /// Mount points at or beneath `dir`, deepest first; none when `dir` does not exist.
    fn mounts_under(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
}

/// True when `path` itself is a mount point.
pub fn is_mounted(ops: &dyn MountOps, path: &Path) -> io::Result<bool> {
    let canonical = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(ops.mounts_under(path)?.contains(&canonical))
}

/// The real thing: mount(2) on the host.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostMountOps;

impl MountOps for HostMountOps {
    fn mount_tmpfs(&self, target: &Path, size: Option<u64>) -> io::Result<()> {
        let mut data = String::from("mode=0755");
        if let Some(size) = size {
            data.push_str(&format!(",size={size}"));
        }
        nix::mount::mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(data.as_str()),
        )
        .map_err(io::Error::from)
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        nix::mount::umount2(target, MntFlags::MNT_DETACH).map_err(io::Error::from)
    }

    fn mounts_under(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let dir = match std::fs::canonicalize(dir) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let table = std::fs::read_to_string("/proc/self/mountinfo")?;
        let mut found: Vec<PathBuf> = crate::pod_sandbox::mount_points(&table)
            .filter(|p| p.starts_with(&dir))
            .collect();
        found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        found.dedup();
        Ok(found)
    }
}
