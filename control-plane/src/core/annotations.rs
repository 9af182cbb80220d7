//! Annotations the control plane reads and writes on objects, under Kubernetes' names.

/// The manifest `apply` last wrote, for the next apply's three-way merge.
pub use skiff_proto::last_applied::LAST_APPLIED;

/// The annotation kubelets put on mirror pods; its value is the static pod's uid.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
