//! The Agent API's one error, and its one mapping to a gRPC status: handlers return
//! `ApiError`, never build a `Status` themselves.

use tonic::Status;

use crate::containerd::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("pods {0:?} not found")]
    PodNotFound(String),
    /// The request cannot be served as asked: a bad selector, no such container, no command.
    #[error("{0}")]
    InvalidArgument(String),
    /// The pod exists but its container is not in a state to serve the request (not yet
    /// started, not running, no previous attempt on disk).
    #[error("{0}")]
    NotReady(String),
    /// The exec itself failed in containerd.
    #[error("{0}")]
    Exec(#[source] RuntimeError),
    /// The caller's own stream failed; its status is passed back unchanged.
    #[error("{}", .0.message())]
    Caller(Status),
    #[error("{0}")]
    Internal(String),
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::PodNotFound(_) => Status::not_found(error.to_string()),
            ApiError::InvalidArgument(m) => Status::invalid_argument(m),
            ApiError::NotReady(m) => Status::failed_precondition(m),
            ApiError::Exec(e) if e.is_not_found() => Status::failed_precondition(format!(
                "the container is gone (it exited or was replaced): {e}"
            )),
            ApiError::Exec(RuntimeError::InvalidArgument(m)) => Status::invalid_argument(m),
            ApiError::Exec(e) if e.is_unavailable() => Status::unavailable(e.to_string()),
            ApiError::Exec(e) => Status::internal(e.to_string()),
            ApiError::Caller(status) => status,
            ApiError::Internal(m) => Status::internal(m),
        }
    }
}
