//! The errors of strategic merge patch, worded as apimachinery's `mergepatch` package
//! words them. kube-apiserver maps the named ones to 400 or 422 and answers the others
//! with a 500; skiff answers those 400, since the fault is the request's.

use serde_json::{Map, Value};

use crate::patch::{go_fmt, PatchError};

pub(super) fn malformed(message: &str) -> PatchError {
    PatchError::Malformed(message.to_string())
}

/// `mergepatch.ErrNoListOfLists`, one of the two kube-apiserver answers with 422.
pub(super) fn list_of_lists() -> PatchError {
    PatchError::Unprocessable("lists of lists are not supported".into())
}

/// `mergepatch.ErrBadArgType`.
pub(super) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Malformed(format!(
        "expected a {expected}, but received a {}",
        go_fmt::type_name(actual)
    ))
}

/// `mergepatch.ErrNoMergeKey`.
pub(super) fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Malformed(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt::value(&Value::Object(item.clone()))
    ))
}

/// `mergepatch.ErrBadPatchType`.
pub(super) fn bad_patch_type(directive: &Value, item: &Map<String, Value>) -> PatchError {
    PatchError::Malformed(format!(
        "unknown patch type: {} in map: {}",
        go_fmt::value(directive),
        go_fmt::value(&Value::Object(item.clone()))
    ))
}
