//! The `Agent` gRPC API (docs/architecture.md, The wire): pods, their logs and exec, served on a unix socket that
//! only root can open in standalone mode.

mod attach;
mod error;
pub mod exec;
mod log_source;
pub mod logs;
pub mod server;

pub use error::ApiError;
pub use exec::ExecBackend;
pub use server::{serve_unix, AgentApi};
