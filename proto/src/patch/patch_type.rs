//! Which engine a PATCH request's `Content-Type` selects, as kube-apiserver chooses:
//! the media type before any `;` parameter (compared exactly, as kube-apiserver does),
//! one of the accepted patch types, or a 415.

use serde_json::Value;

use super::{json_patch, merge_patch, strategic, PatchError};

/// The patch types skiff accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
}

const TYPES: [(&str, PatchType); 3] = [
    ("application/json-patch+json", PatchType::Json),
    ("application/merge-patch+json", PatchType::Merge),
    (
        "application/strategic-merge-patch+json",
        PatchType::Strategic,
    ),
];

impl PatchType {
    /// The patch type of a `Content-Type` header (`; charset=utf-8` and the like
    /// ignored); anything else is kube-apiserver's 415, listing what is accepted.
    pub fn from_content_type(content_type: &str) -> Result<PatchType, PatchError> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        TYPES
            .iter()
            .find(|(name, _)| *name == media_type)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let accepted: Vec<&str> = TYPES.iter().map(|(name, _)| *name).collect();
                PatchError::UnsupportedMediaType(format!(
                    "the body of the request was in an unknown format - accepted media types include: {}",
                    accepted.join(", ")
                ))
            })
    }

    /// Applies `body` to `doc`, an object of `kind` (as in `proto/src/kinds.rs`).
    pub fn apply(self, doc: &Value, body: &[u8], kind: &str) -> Result<Value, PatchError> {
        match self {
            PatchType::Json => json_patch::apply(doc, body),
            PatchType::Merge => merge_patch::apply(doc, body),
            PatchType::Strategic => strategic::apply(doc, body, kind),
        }
    }

    /// Whether `strict_errors` reads the body as a JSON patch.
    pub fn is_json_patch(self) -> bool {
        self == PatchType::Json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types_select_their_engine() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Ok(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json"),
            Ok(PatchType::Strategic)
        );
        let doc = json!({"metadata": {"labels": {"a": "1"}}});
        let out = PatchType::from_content_type("application/json-patch+json")
            .unwrap()
            .apply(
                &doc,
                br#"[{"op":"remove","path":"/metadata/labels/a"}]"#,
                "Pod",
            )
            .unwrap();
        assert_eq!(out, json!({"metadata": {"labels": {}}}));
    }

    #[test]
    fn other_content_types_are_unsupported_media_types() {
        for content_type in ["application/json", "application/apply-patch+yaml", ""] {
            assert_eq!(
                PatchType::from_content_type(content_type),
                Err(PatchError::UnsupportedMediaType(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json".into()
                ))
            );
        }
    }
}
