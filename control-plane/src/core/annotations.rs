//! Annotations the control plane reads and writes on objects, under Kubernetes' names.

/// The manifest `skiff apply` last wrote, for the next apply's three-way merge.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The annotation kubelets put on mirror pods; its value is the static pod's uid.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
