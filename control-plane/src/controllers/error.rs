//! What a reconcile can fail with. Every error is retried with backoff (the runtime's
//! `error_policy`); none is fatal to the loop.

use crate::store::{DecodeError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored object that does not decode as its kind.
    #[error(transparent)]
    Corrupt(#[from] DecodeError),
    /// The object asks for something the controller cannot do (a bad selector, say).
    #[error("{0}")]
    Invalid(String),
}
