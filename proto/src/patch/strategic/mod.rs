//! Strategic merge patch (`application/strategic-merge-patch+json`), as kube-apiserver
//! applies it to built-in kinds (apimachinery `pkg/util/strategicpatch`): a JSON merge
//! patch whose lists merge by the keys Kubernetes' Go types declare
//! (`patchStrategy:"merge" patchMergeKey:"name"`), with the directives clients send:
//! `$patch: replace|delete` (`merge` is refused, as apimachinery refuses it),
//! `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.
//! The merge metadata of each kind is the table in `schema.rs`.

mod element_order;
mod errors;
mod lists;
mod merge;
mod schema;
#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use super::{check_depth, go_fmt, parse_body, PatchError};
pub use schema::{field_strategy, Strategy};
pub(crate) use schema::{ApplyShape, Schema};

/// Applies the strategic merge patch `patch` (the raw request body) to `doc`, an object
/// of `kind` (as in `proto/src/kinds.rs`: "Deployment"). A kind without merge metadata
/// is refused with [`PatchError::UnsupportedKind`].
pub fn apply(doc: &Value, patch: &[u8], kind: &str) -> Result<Value, PatchError> {
    let ty = schema::kind(kind).ok_or_else(|| PatchError::UnsupportedKind {
        kind: kind.to_string(),
    })?;
    let patch = match parse_body(patch).map_err(|e| PatchError::Malformed(e.to_string()))? {
        Value::Object(patch) => patch,
        Value::Null => Map::new(),
        other => {
            return Err(PatchError::Malformed(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                go_fmt::json_kind(&other)
            )))
        }
    };
    check_depth(doc)?;
    let Value::Object(original) = doc else {
        return Err(PatchError::Malformed("invalid JSON document".into()));
    };
    let merged = Value::Object(merge::merge_map(
        original.clone(),
        patch,
        schema::Schema(Some(ty)),
    )?);
    check_depth(&merged)?;
    Ok(merged)
}

/// Whether strategic merge patch serves `kind`.
pub fn supports(kind: &str) -> bool {
    schema::kind(kind).is_some()
}
