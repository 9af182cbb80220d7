//! What a reconcile can fail with. Every error is retried with backoff (the runtime's
//! `error_policy`); none is fatal to the loop.

use crate::store::{Key, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored object that does not decode as its kind.
    #[error("stored {key} does not decode: {source}")]
    Corrupt { key: Key, source: serde_json::Error },
    /// The object asks for something the controller cannot do (a bad selector, say).
    #[error("{0}")]
    Invalid(String),
}
