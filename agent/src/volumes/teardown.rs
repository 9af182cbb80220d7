//! Removing volumes: a pod's at teardown, those of pods nobody claims at start, and
//! every leftover mount for `skiff-agent cleanup`.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use tracing::{info, warn};

use super::layout;
use super::VolumeManager;

impl VolumeManager {
    /// Unmounts and removes everything under the pod's `volumes/`. Works from what is on
    /// disk, not the spec, so an orphan (known only by its labels) is cleaned too. A
    /// mount that stays keeps its directory: nothing is deleted through it.
    pub fn teardown(&self, pod: &Pod) -> io::Result<()> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut live = self.live();
        live.remove(&uid);
        self.tokens.forget_pod(&uid);
        self.remove_volumes_dir(&layout::volumes_dir(&self.root, pod))
    }

    fn remove_volumes_dir(&self, dir: &Path) -> io::Result<()> {
        for mount in self.ops.mounts_under(dir)? {
            self.ops.unmount(&mount)?;
        }
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// At start: the volumes of pod directories whose uid is not in `live`.
    pub fn remove_unclaimed(&self, live: &HashSet<String>) {
        let Ok(entries) = fs::read_dir(layout::pods_dir(&self.root)) else {
            return;
        };
        let _held = self.live();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(uid) = layout::uid_of_pod_dir(&name) else {
                continue;
            };
            let volumes = entry.path().join("volumes");
            if live.contains(uid) || !volumes.exists() {
                continue;
            }
            match self.remove_volumes_dir(&volumes) {
                Ok(()) => info!(pod_dir = %name, "removed volumes no pod claims"),
                Err(error) => warn!(pod_dir = %name, %error, "cannot remove unclaimed volumes"),
            }
        }
    }

    /// `skiff-agent cleanup`: unmounts every volume mount under `<root>/pods`; returns
    /// how many there were.
    pub fn unmount_all(&self) -> io::Result<usize> {
        let mounts = self.ops.mounts_under(&layout::pods_dir(&self.root))?;
        for m in &mounts {
            self.ops.unmount(m)?;
        }
        Ok(mounts.len())
    }
}
