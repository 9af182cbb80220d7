//! The three patch types of the Kubernetes API, as kube-apiserver applies them: one
//! implementation for the REST front door (and later the CLI). Pure functions over
//! `serde_json::Value`: no I/O, no async.
//!
//! - [`json_patch`]: RFC 6902 (`application/json-patch+json`), with the semantics and
//!   messages of the JSON patch library kube-apiserver uses (evanphx/json-patch v4).
//! - [`merge_patch`]: RFC 7386 (`application/merge-patch+json`).
//! - [`strategic`]: Kubernetes' strategic merge patch
//!   (`application/strategic-merge-patch+json`): lists merged by their merge keys and the
//!   `$patch`, `$retainKeys`, `$setElementOrder/…` and `$deleteFromPrimitiveList/…`
//!   directives.
//!
//! Every entry point takes the stored object and the raw request body and returns the
//! patched object, or a [`PatchError`] whose variant says which HTTP code it maps to.
//! [`PatchType`] picks the engine from a request's `Content-Type`; [`strict_errors`] is
//! what `fieldValidation=Strict|Warn` finds in the body itself.

mod error;
mod go_fmt;
pub mod json_patch;
pub mod merge_patch;
mod patch_type;
pub mod strategic;
mod strict;

#[cfg(test)]
mod kubectl_fixtures;

#[cfg(test)]
mod proptests;

pub use error::PatchError;
pub use patch_type::PatchType;
pub use strict::strict_errors;

use serde_json::Value;

/// The deepest nesting a document may have, before and after a patch. serde_json refuses
/// to parse deeper than 128 levels, so a deeper object could be stored but never read
/// back; real objects stay far below this.
pub const MAX_DEPTH: usize = 100;

/// The most operations one JSON patch may hold (kube-apiserver's `maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// How much `copy` operations may grow a document in one JSON patch, in bytes of JSON
/// (kube-apiserver's `JSONPatchMaxCopyBytes`, 3 MiB): without it a few dozen copies of a
/// copy would need exponential memory.
pub const MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

/// Parses a request body as JSON; serde_json's own recursion limit refuses deep bodies
/// before anything recurses over them.
fn parse_body(body: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Refuses documents nested deeper than [`MAX_DEPTH`]. Iterative, so a hostile depth
/// cannot overflow the stack here.
fn check_depth(doc: &Value) -> Result<(), PatchError> {
    let mut stack: Vec<(&Value, usize)> = vec![(doc, 0)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > MAX_DEPTH {
            return Err(PatchError::Malformed(format!(
                "exceeded max depth of {MAX_DEPTH}"
            )));
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A document `levels` deep, built and torn down without recursion.
    pub(crate) fn with_deep_document<R>(levels: usize, f: impl FnOnce(&Value) -> R) -> R {
        let mut doc = json!(1);
        for _ in 0..levels {
            // Not `json!`: it would serialize (recursively) the value it wraps.
            let mut map = serde_json::Map::new();
            map.insert("a".into(), doc);
            doc = Value::Object(map);
        }
        let result = f(&doc);
        // Tear down iteratively: the derived drop of a 10,000-deep Value recurses.
        let mut next = Some(doc);
        while let Some(mut value) = next.take() {
            if let Value::Object(map) = &mut value {
                next = map.remove("a");
            }
        }
        result
    }

    #[test]
    fn depth_within_the_limit_is_accepted_and_beyond_it_refused() {
        with_deep_document(MAX_DEPTH, |doc| assert!(check_depth(doc).is_ok()));
        with_deep_document(MAX_DEPTH + 1, |doc| {
            assert_eq!(
                check_depth(doc),
                Err(PatchError::Malformed("exceeded max depth of 100".into()))
            )
        });
    }

    #[test]
    fn serde_refuses_a_body_nested_ten_thousand_deep() {
        let body = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_body(body.as_bytes()).is_err());
    }
}
