//! Pod volumes, laid out as the kubelet does (`layout.rs`): configMap, secret,
//! downwardAPI and projected volumes written by the atomic writer (secret, downwardAPI
//! and projected ones on a tmpfs of their own, never on disk), emptyDir (on disk, or a
//! tmpfs for `medium: Memory`), hostPath with its type checks and
//! persistentVolumeClaim (the bound volume's directory). Each container then gets bind
//! mounts (`container_mounts.rs`: subPath, subPathExpr, readOnly).
//!
//! Set-up is idempotent: a re-adopted pod finds its tmpfs mounted and its files
//! unchanged. One periodic resync (`resync.rs`) refreshes the files of every pod's
//! configMap, secret, downwardAPI and projected volumes; a projected service account
//! token is rewritten only when the node's token manager (`tokens/`) refreshes it (80%
//! of its life, or 24 h). Teardown unmounts and removes
//! everything under the pod's `volumes/`; at start the agent does the same for pod
//! directories no pod claims (`teardown.rs`).
//!
//! `sizeLimit`: a memory-backed emptyDir is a tmpfs of that size; one on disk is
//! measured (`usage.rs`) and the worker evicts its pod, as the kubelet does.
//!
//! `securityContext.fsGroup` owns emptyDir, configMap, secret, downwardAPI and
//! projected volumes (`ownership.rs`). mountPropagation other than None is refused at
//! apply.

mod atomic_writer;
mod claim;
mod container_mounts;
#[cfg(test)]
pub mod fake;
mod host_path;
pub mod layout;
mod mount_ops;
mod ownership;
mod projection;
#[cfg(test)]
mod real_tests;
mod resync;
mod setup;
mod teardown;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod token_tests;
mod usage;

pub use container_mounts::{container_mounts, BindMount};
pub use mount_ops::{HostMountOps, MountOps};
pub use resync::RESYNC_EVERY;
pub use usage::has_disk_limit;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::tokens::TokenManager;

/// A volume that could not be set up; shown as the waiting containers' message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume {volume:?} : {message}")]
pub struct VolumeError {
    pub volume: String,
    pub message: String,
}

/// Where one volume of a pod is on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumePath {
    pub path: PathBuf,
    /// configMap, secret, downwardAPI and projected volumes are always read-only, as are
    /// claims mounted `readOnly`.
    pub read_only: bool,
}

/// A pod's volumes by name, once set up.
pub type PodVolumes = HashMap<String, VolumePath>;

/// Sets up and tears down the volumes of every pod on the node.
pub struct VolumeManager {
    root: PathBuf,
    ops: Arc<dyn MountOps>,
    /// What the node offers pods: a downwardAPI limit a container leaves unset reads as
    /// this (`WorkerConfig::allocatable`).
    allocatable: BTreeMap<String, Quantity>,
    /// Pods whose volumes are set up, by uid: what the resync refreshes. Held while
    /// files are written, so a teardown never races a refresh.
    live: Mutex<HashMap<String, Pod>>,
    /// Service account tokens of projected volumes, refreshed by the resync.
    tokens: Arc<TokenManager>,
}

impl VolumeManager {
    pub fn new(
        root: &Path,
        ops: Arc<dyn MountOps>,
        allocatable: BTreeMap<String, Quantity>,
    ) -> Self {
        Self {
            root: root.to_path_buf(),
            ops,
            allocatable,
            live: Mutex::new(HashMap::new()),
            tokens: Arc::new(TokenManager::standalone()),
        }
    }

    /// Tokens from `tokens` instead of none (a joined agent's control plane).
    pub fn with_tokens(mut self, tokens: Arc<TokenManager>) -> Self {
        self.tokens = tokens;
        self
    }

    /// The real manager for the node rooted at `root`.
    pub fn for_host(root: &Path, allocatable: BTreeMap<String, Quantity>) -> Self {
        Self::new(root, Arc::new(HostMountOps), allocatable)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pod>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for VolumeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeManager")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}
