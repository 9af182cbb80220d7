//! The `Agent` gRPC API (design.md §3): pods, their logs and exec, served on a unix socket that
//! only root can open in standalone mode.

pub mod exec;
pub mod logs;
pub mod server;

pub use exec::ExecBackend;
pub use server::{serve_unix, AgentApi};
