//! skiff-control-plane as a library: the parts `main.rs` wires together (design.md §4).

pub mod api;
/// The node binaries, served to node-token holders beside the API (join.sh fetches them).
pub mod binaries;
/// One control plane per data dir (the cluster area).
pub mod datadir;
/// Mirror pods of the nodes' static pods (the cluster area).
pub mod mirror;
pub mod nodes;
pub mod pki;
/// Logs and exec relayed to the pods' nodes (the cluster area).
pub mod proxy;
/// Services: ClusterIP/NodePort allocation, the Endpoints controller, the nodes' watches.
pub mod services;
pub mod state;
pub mod store;

// workloads: ReplicaSet, Deployment, garbage collection
pub mod controllers;
