//! skiff-agent: the node agent. A mini-kubelet that runs pods through containerd.

pub mod runtime;
pub mod sandbox;
