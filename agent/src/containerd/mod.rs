//! The container runtime: containerd through `containerd-client`.
//!
//! `image` pulls and unpacks images client-side (containerd 1.6 has no Transfer service),
//! `container` builds OCI specs and drives containers and tasks.

pub mod client;
pub mod container;
pub mod image;

pub use client::Containerd;

/// Label keys skiff puts on every container so a restarted agent can re-adopt it.
pub mod labels {
    pub const POD_UID: &str = "io.skiff.pod.uid";
    pub const POD_NAMESPACE: &str = "io.skiff.pod.namespace";
    pub const POD_NAME: &str = "io.skiff.pod.name";
    pub const CONTAINER_NAME: &str = "io.skiff.container.name";
    pub const ATTEMPT: &str = "io.skiff.container.attempt";
    /// Hash of the container's spec in the pod, so a changed manifest replaces it.
    pub const SPEC_HASH: &str = "io.skiff.container.hash";
    /// The container's log file; its output FIFOs lie beside it (`container_logs`).
    /// Containers of older agents lack it: their shims write the log themselves.
    pub const LOG_PATH: &str = "io.skiff.container.log";
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("containerd is unavailable: {0}")]
    Unavailable(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("image {image}: {message}")]
    Image { image: String, message: String },
    #[error("containerd: {0}")]
    Containerd(#[from] tonic::Status),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the error says containerd could not be reached, so the caller retries.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Containerd(s) => s.code() == tonic::Code::Unavailable,
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        match self {
            Self::NotFound(_) => true,
            Self::Containerd(s) => s.code() == tonic::Code::NotFound,
            _ => false,
        }
    }
}
