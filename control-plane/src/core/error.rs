//! The one error of the control plane's layers below the front doors. Each front door
//! maps it to its wire once (`frontdoor/status.rs` for gRPC), so every method answers the
//! same problem with the same code and clients act on the code without parsing messages.

use crate::pki::PkiError;
use crate::store::{DecodeError, StoreError};

/// What a request, a reconcile or a node's call can fail with. The message is what the
/// user reads (the CLI prints it as is), so each variant carries a finished sentence
/// rather than parts of one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The object (or the namespace it needs) does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The request itself is wrong: a manifest that does not decode or validate, an
    /// unsupported kind, a malformed selector or resourceVersion.
    #[error("{0}")]
    Invalid(String),
    /// The request is well formed but the cluster's state refuses it: an immutable field,
    /// a label that exists without `--overwrite`, a namespace being terminated.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Optimistic concurrency: the object changed since the caller read it. Re-read, retry.
    #[error("{0}")]
    Conflict(String),
    /// A watch asked for events that compaction already dropped: list again and watch
    /// from the list's resourceVersion (Kubernetes' 410 Gone).
    #[error("{0}")]
    Expired(String),
    /// The store's backend failed; the request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// Something stored is unreadable: a bug or corruption, never the caller's fault.
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Unimplemented(String),
    /// The caller's credentials are not good (a node's join token). Says nothing more.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this (a node acting on another node's pod).
    #[error("{0}")]
    PermissionDenied(String),
    /// A pool ran out (pod CIDRs for nodes).
    #[error("{0}")]
    Exhausted(String),
}

impl Error {
    /// The same error (same code) with `context` added to its message.
    pub fn context(self, context: impl std::fmt::Display) -> Error {
        let add = |m: String| format!("{m} ({context})");
        match self {
            Error::NotFound(m) => Error::NotFound(add(m)),
            Error::AlreadyExists(m) => Error::AlreadyExists(add(m)),
            Error::Invalid(m) => Error::Invalid(add(m)),
            Error::FailedPrecondition(m) => Error::FailedPrecondition(add(m)),
            Error::Conflict(m) => Error::Conflict(add(m)),
            Error::Expired(m) => Error::Expired(add(m)),
            Error::Unavailable(m) => Error::Unavailable(add(m)),
            Error::Internal(m) => Error::Internal(add(m)),
            Error::Unimplemented(m) => Error::Unimplemented(add(m)),
            Error::Unauthenticated(m) => Error::Unauthenticated(add(m)),
            Error::PermissionDenied(m) => Error::PermissionDenied(add(m)),
            Error::Exhausted(m) => Error::Exhausted(add(m)),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(key) => Error::NotFound(format!("{key} not found")),
            StoreError::AlreadyExists(key) => Error::AlreadyExists(format!("{key} already exists")),
            StoreError::Conflict {
                key,
                expected,
                actual,
            } => Error::Conflict(format!(
                "Operation cannot be fulfilled on {key}: the object has been modified \
                 (resourceVersion {expected} was given, it is now {actual}); \
                 read it again and retry"
            )),
            StoreError::Compacted { requested, oldest } => Error::Expired(format!(
                "resourceVersion {requested} is too old (events up to {oldest} were compacted): \
                 list again and watch from the list's resourceVersion"
            )),
            StoreError::Backend(message) => Error::Unavailable(message),
        }
    }
}

/// A stored object that does not decode as its kind: someone wrote garbage past the
/// API's validation, or a bug here.
impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Internal(e.to_string())
    }
}

/// A bad certificate request is the caller's; anything else the PKI's own trouble.
impl From<PkiError> for Error {
    fn from(e: PkiError) -> Self {
        match e {
            PkiError::Csr(_) => Error::Invalid(e.to_string()),
            _ => Error::Internal(e.to_string()),
        }
    }
}
