//! Where a pod's volumes live on the node, as the kubelet lays them out:
//! `<root>/pods/<ns>_<name>_<uid>/volumes/kubernetes.io~<type>/<volume name>`.
//! hostPath volumes and claims' volumes are bind-mounted from where they are and get no
//! directory here.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use crate::pod_dirs::pod_dir;

pub const CONFIG_MAP: &str = "kubernetes.io~configmap";
pub const SECRET: &str = "kubernetes.io~secret";
pub const EMPTY_DIR: &str = "kubernetes.io~empty-dir";
pub const DOWNWARD_API: &str = "kubernetes.io~downward-api";
pub const PROJECTED: &str = "kubernetes.io~projected";

/// `<pod dir>/volumes`
pub fn volumes_dir(root: &Path, pod: &Pod) -> PathBuf {
    pod_dir(root, pod).join("volumes")
}

pub fn volume_dir(root: &Path, pod: &Pod, plugin: &str, name: &str) -> PathBuf {
    volumes_dir(root, pod).join(plugin).join(name)
}

/// `<root>/pods`, where every pod's directory is.
pub fn pods_dir(root: &Path) -> PathBuf {
    root.join("pods")
}

/// The pod uid of a pod directory's name (`<ns>_<name>_<uid>`).
pub fn uid_of_pod_dir(name: &str) -> Option<&str> {
    let (_, uid) = name.rsplit_once('_')?;
    (!uid.is_empty()).then_some(uid)
}
