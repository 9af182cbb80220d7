//! The `Agent` gRPC API (design.md §3): pods and their logs, served on a unix socket that
//! only root can open in standalone mode.

pub mod logs;
pub mod server;

pub use server::{serve_unix, AgentApi};
