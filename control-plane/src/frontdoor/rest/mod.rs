//! The Kubernetes REST API (docs/architecture.md, REST front door).

pub mod discovery;
pub mod openapi;
