//! The one error of the patch engines; its variants are the HTTP codes kube-apiserver
//! answers with (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`).

/// Why a patch was refused. Messages are the patch libraries' own words, as
/// kube-apiserver passes them on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// 400 BadRequest: the body is not a patch of its type (not JSON, the wrong shape,
    /// a malformed directive, a list item without its merge key).
    #[error("{0}")]
    Malformed(String),
    /// 422 Invalid: a well-formed patch that does not apply to this object (a JSON patch
    /// `test` that failed, a path that does not exist, a list of lists in a strategic
    /// merge patch). kube-apiserver answers these with the fixed message
    /// [`PatchError::UNPROCESSABLE_MESSAGE`]; the detail is kept here for logs and causes.
    #[error("{0}")]
    Unprocessable(String),
    /// 413 RequestEntityTooLarge: a JSON patch of more than
    /// [`super::MAX_JSON_PATCH_OPERATIONS`] operations.
    #[error("{0}")]
    TooLarge(String),
    /// 415 UnsupportedMediaType: a `Content-Type` that is no patch type skiff accepts.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 415 UnsupportedMediaType: a strategic merge patch for a kind without merge
    /// metadata (anything but the built-in kinds).
    #[error("strategic merge patch format is not supported")]
    UnsupportedKind { kind: String },
}

impl PatchError {
    /// What kube-apiserver says for every [`PatchError::Unprocessable`]
    /// (`errors.NewGenericServerResponse(422, ...)`).
    pub const UNPROCESSABLE_MESSAGE: &'static str =
        "the server rejected our request due to an error in our request";
}
