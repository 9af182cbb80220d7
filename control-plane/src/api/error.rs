//! The API's errors and their gRPC codes, mapped in exactly one place
//! (`impl From<ApiError> for tonic::Status`) so every method answers the same problem
//! with the same code, and clients can act on the code without parsing messages.

use tonic::Status;

use crate::store::StoreError;

/// What an API method can fail with. The message is what the user reads (the CLI prints
/// it as is), so each variant carries a finished sentence rather than parts of one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
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
}

impl ApiError {
    /// The same error (same code) with `context` added to its message.
    pub fn context(self, context: impl std::fmt::Display) -> ApiError {
        let add = |m: String| format!("{m} ({context})");
        match self {
            ApiError::NotFound(m) => ApiError::NotFound(add(m)),
            ApiError::AlreadyExists(m) => ApiError::AlreadyExists(add(m)),
            ApiError::Invalid(m) => ApiError::Invalid(add(m)),
            ApiError::FailedPrecondition(m) => ApiError::FailedPrecondition(add(m)),
            ApiError::Conflict(m) => ApiError::Conflict(add(m)),
            ApiError::Expired(m) => ApiError::Expired(add(m)),
            ApiError::Unavailable(m) => ApiError::Unavailable(add(m)),
            ApiError::Internal(m) => ApiError::Internal(add(m)),
            ApiError::Unimplemented(m) => ApiError::Unimplemented(add(m)),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(key) => ApiError::NotFound(format!("{key} not found")),
            StoreError::AlreadyExists(key) => {
                ApiError::AlreadyExists(format!("{key} already exists"))
            }
            StoreError::Conflict {
                key,
                expected,
                actual,
            } => ApiError::Conflict(format!(
                "Operation cannot be fulfilled on {key}: the object has been modified \
                 (resourceVersion {expected} was given, it is now {actual}); \
                 read it again and retry"
            )),
            StoreError::Compacted { requested, oldest } => ApiError::Expired(format!(
                "resourceVersion {requested} is too old (events up to {oldest} were compacted): \
                 list again and watch from the list's resourceVersion"
            )),
            StoreError::Backend(message) => ApiError::Unavailable(message),
        }
    }
}

/// The one mapping from errors to gRPC codes.
///
/// `Expired` is `OutOfRange` rather than `Aborted`: `Aborted` already means "conflict,
/// re-read the object and retry", while an expired watch needs a full relist, and a client
/// should be able to tell the two apart by code alone.
impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::AlreadyExists(m) => Status::already_exists(m),
            ApiError::Invalid(m) => Status::invalid_argument(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::Conflict(m) => Status::aborted(m),
            ApiError::Expired(m) => Status::out_of_range(m),
            ApiError::Unavailable(m) => Status::unavailable(m),
            ApiError::Internal(m) => Status::internal(m),
            ApiError::Unimplemented(m) => Status::unimplemented(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;
    use crate::store::Key;

    #[test]
    fn store_errors_map_to_their_codes() {
        let key = Key::new("Pod", "default", "web");
        let code = |e: StoreError| Status::from(ApiError::from(e)).code();
        assert_eq!(code(StoreError::NotFound(key.clone())), Code::NotFound);
        assert_eq!(
            code(StoreError::AlreadyExists(key.clone())),
            Code::AlreadyExists
        );
        let conflict = StoreError::Conflict {
            key,
            expected: 3,
            actual: 5,
        };
        assert_eq!(code(conflict), Code::Aborted);
        let compacted = StoreError::Compacted {
            requested: 1,
            oldest: 9,
        };
        assert_eq!(code(compacted), Code::OutOfRange);
        assert_eq!(code(StoreError::Backend("disk".into())), Code::Unavailable);
    }

    #[test]
    fn messages_tell_the_caller_what_to_do() {
        let expired = ApiError::from(StoreError::Compacted {
            requested: 1,
            oldest: 9,
        });
        assert!(expired.to_string().contains("list again"), "{expired}");
        let conflict = ApiError::from(StoreError::Conflict {
            key: Key::new("Pod", "default", "web"),
            expected: 3,
            actual: 5,
        });
        let text = conflict.to_string();
        assert!(
            text.contains("Pod/default/web") && text.contains("retry"),
            "{text}"
        );
    }
}
