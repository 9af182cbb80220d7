//! skiff-control-plane as a library: the parts `main.rs` wires together, in layers
//! (docs/architecture.md, Control plane layers). Each imports only the ones listed before
//! it.

/// One control plane per data dir.
pub mod datadir;
pub mod pki;
pub mod store;

pub mod controllers;
pub mod core;
pub mod frontdoor;
/// Which server runs the controllers, and which servers are live (above core, below controllers).
pub mod leader;
pub mod rbac;
pub mod resources;
