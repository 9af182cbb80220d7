//! The names storage shares between the control plane (binding, the local-path
//! provisioner), the agent (the node's local-path directory, reclaiming volumes) and the
//! CLI: annotations, the default StorageClass, and where a provisioned volume lives
//! (docs/architecture.md, Storage).

/// The StorageClass made at first start, marked default.
pub const DEFAULT_CLASS: &str = "local-path";
/// The provisioner of [`DEFAULT_CLASS`]: a directory on the node the claim's first pod is
/// scheduled to.
pub const LOCAL_PATH_PROVISIONER: &str = "skiff.io/local-path";
/// The annotation that marks a StorageClass as the default one.
pub const IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// Where a node keeps its local-path volumes; published by its agent on its Node.
pub const LOCAL_PATH_DIR_ANNOTATION: &str = "storage.skiff.io/local-path-dir";
/// The agent's default `--local-path-dir`.
pub const DEFAULT_LOCAL_PATH_DIR: &str = "/var/lib/skiff/storage";

/// On a claim: the node the scheduler chose for its first pod (WaitForFirstConsumer).
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a claim: the provisioner asked to make its volume.
pub const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// On a claim: binding finished.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a claim or volume: the binding was made by the controller, not the user.
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// On a volume: who made it.
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// Finalizer of a claim a pod still uses.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// Finalizer of a volume bound to a claim.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// The directory name of a provisioned volume, as k3s' local-path provisioner names it:
/// `pvc-<claim uid>_<namespace>_<claim name>`.
pub fn volume_dir_name(claim_uid: &str, namespace: &str, claim: &str) -> String {
    format!("pvc-{claim_uid}_{namespace}_{claim}")
}

/// The name of the volume provisioned for a claim: `pvc-<claim uid>`.
pub fn volume_name(claim_uid: &str) -> String {
    format!("pvc-{claim_uid}")
}
