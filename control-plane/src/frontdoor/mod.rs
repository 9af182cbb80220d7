//! The front doors (docs/architecture.md, Control plane layers): the gRPC services and the
//! Kubernetes REST API on top of the layers below, each mapping the core's error to its
//! wire once (`status.rs` for gRPC, `rest/status.rs` for REST), all on one TLS port
//! (`server.rs`).
//!
//! | what | folder |
//! |------|--------|
//! | `skiff.v1.Node`, what agents call  | `node/` |
//! | Logs and exec relayed to the pods' agents | `relay/` |
//! | The node binaries, for `deploy/join.sh` (plain HTTPS GETs) | `binaries/` |
//! | The Kubernetes REST API, for kubectl and client libraries | `rest/` |
//! | The TLS listener that serves them all | `server.rs` |

pub mod binaries;
pub mod join;
pub mod node;
pub mod relay;
pub mod rest;
pub mod server;
mod status;
mod wire;

pub use node::{node_service, NodeService};
