//! The one mapping from the core's [`Error`] to gRPC codes, shared by both gRPC services
//! (Api and Node) so every method answers the same problem with the same code.

use tonic::Status;

use crate::core::Error;

/// The one mapping from errors to gRPC codes.
///
/// `Expired` is `OutOfRange` rather than `Aborted`: `Aborted` already means "conflict,
/// re-read the object and retry", while an expired watch needs a full relist, and a client
/// should be able to tell the two apart by code alone.
impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(m) => Status::not_found(m),
            Error::AlreadyExists(m) => Status::already_exists(m),
            Error::Invalid(m) => Status::invalid_argument(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::Conflict(m) => Status::aborted(m),
            Error::Expired(m) => Status::out_of_range(m),
            Error::Unavailable(m) => Status::unavailable(m),
            Error::Internal(m) => Status::internal(m),
            Error::Unimplemented(m) => Status::unimplemented(m),
            Error::Unauthenticated(m) => Status::unauthenticated(m),
            Error::PermissionDenied(m) => Status::permission_denied(m),
            Error::Exhausted(m) => Status::resource_exhausted(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;
    use crate::store::Key;
    use crate::store::StoreError;

    #[test]
    fn store_errors_map_to_their_codes() {
        let key = Key::new("Pod", "default", "web");
        let code = |e: StoreError| Status::from(Error::from(e)).code();
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
        let expired = Error::from(StoreError::Compacted {
            requested: 1,
            oldest: 9,
        });
        assert!(expired.to_string().contains("list again"), "{expired}");
        let conflict = Error::from(StoreError::Conflict {
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
