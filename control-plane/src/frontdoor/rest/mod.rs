//! The Kubernetes REST front door (docs/architecture.md, The wire).

pub mod pods;
pub mod spdy;
