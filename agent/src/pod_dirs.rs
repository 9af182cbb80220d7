//! Where a pod's files live on the node (docs/architecture.md, What survives `kill -9`).

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

/// `<root>/pods/<namespace>_<name>_<uid>`
pub fn pod_dir(root: &Path, pod: &Pod) -> PathBuf {
    let m = &pod.metadata;
    root.join("pods").join(format!(
        "{}_{}_{}",
        m.namespace.as_deref().unwrap_or("default"),
        m.name.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    ))
}

/// `<pod dir>/<container>/<attempt>.log`
pub fn log_path(root: &Path, pod: &Pod, container: &str, attempt: u32) -> PathBuf {
    pod_dir(root, pod)
        .join(container)
        .join(format!("{attempt}.log"))
}
