//! The `Agent` gRPC API (docs/architecture.md, The wire): pods, their logs, exec and port-forward, served on a unix socket that
//! only root can open in standalone mode.

mod attach;
mod error;
pub mod exec;
mod log_source;
pub mod logs;
pub mod portforward;
pub mod server;

pub use error::ApiError;
pub use exec::ExecBackend;
pub use portforward::{NetnsDialer, PodDialer};
pub use server::{serve_unix, AgentApi};
