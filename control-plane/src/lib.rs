//! skiff-control-plane as a library: the parts `main.rs` wires together (design.md §4).

pub mod api;
pub mod nodes;
pub mod pki;
pub mod state;
pub mod store;

// workloads: ReplicaSet, Deployment, garbage collection
pub mod controllers;
