//! skiff-agent: the node agent. A mini-kubelet that runs pods through containerd.

pub mod api;
pub mod container_logs;
pub mod containerd;
pub mod dns;
pub mod downward;
pub mod join;
/// malloc arenas, trimming and the runtime's size: the agent's process-wide memory.
pub mod network;
pub mod objects;
pub mod pod_dirs;
pub mod pod_sandbox;
pub mod pods;
pub mod probes;
pub mod proxy;
pub mod wiring;
// services: the control plane's Services/Endpoints fed to the proxy and the DNS.
pub mod services;
pub mod sources;
#[cfg(test)]
pub(crate) mod test_support;
pub mod tokens;
pub mod volumes;
