//! A recording [`MountOps`] for unit tests: mounts are remembered, nothing is mounted.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::mount_ops::MountOps;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountCall {
    Tmpfs(PathBuf, Option<u64>),
    Unmount(PathBuf),
}

#[derive(Default)]
pub struct FakeMounts {
    pub calls: Mutex<Vec<MountCall>>,
    pub mounted: Mutex<BTreeSet<PathBuf>>,
}

impl FakeMounts {
    pub fn tmpfs_mounts(&self) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| matches!(c, MountCall::Tmpfs(..)))
            .count()
    }
}

impl MountOps for FakeMounts {
    fn mount_tmpfs(&self, target: &Path, size: Option<u64>) -> io::Result<()> {
        let target = std::fs::canonicalize(target)?;
        self.calls
            .lock()
            .unwrap()
            .push(MountCall::Tmpfs(target.clone(), size));
        self.mounted.lock().unwrap().insert(target);
        Ok(())
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        let target = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
        self.calls
            .lock()
            .unwrap()
            .push(MountCall::Unmount(target.clone()));
        if self.mounted.lock().unwrap().remove(&target) {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        }
    }

    fn mounts_under(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let Ok(dir) = std::fs::canonicalize(dir) else {
            return Ok(Vec::new());
        };
        let mut found: Vec<PathBuf> = self
            .mounted
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(&dir))
            .cloned()
            .collect();
        found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        Ok(found)
    }
}
