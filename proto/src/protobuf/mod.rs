//! Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`), converted to and
//! from the JSON objects the rest of skiff works with (docs/architecture.md, The REST
//! API). The messages are Kubernetes' own, read by reflection from a descriptor set of
//! their .proto files, so every built-in kind is covered without code per kind.
//!
//! | what | file |
//! |------|------|
//! | the descriptor set, kinds to messages, Go's JSON field rules | `schema.rs` |
//! | the `k8s\0` envelope and watch frames | `envelope.rs` |
//! | message → JSON | `to_json.rs` |
//! | JSON → message | `from_json.rs` |
//! | times, durations, IntOrString, Quantity, embedded objects | `special.rs` |

mod envelope;
mod from_json;
mod schema;
mod special;
mod to_json;

#[cfg(test)]
mod tests;

pub use envelope::{decode, decode_watch_event, encode, has_form, watch_frame, MAGIC};
pub use special::{format_duration, parse_duration};

/// The media type of protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The media type of a watch stream of protobuf frames.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("the body does not start with the protobuf envelope's magic bytes")]
    NoMagic,
    #[error("decoding protobuf: {0}")]
    Decode(String),
    #[error("no protobuf message for {kind} in {api_version:?}")]
    NoMessage { api_version: String, kind: String },
    #[error("{path}: {message}")]
    Field { path: String, message: String },
    #[error("{0}")]
    Internal(String),
}

impl ProtobufError {
    fn field(path: &str, message: impl Into<String>) -> ProtobufError {
        ProtobufError::Field {
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// The same error one level down (`spec` + `replicas` → `spec.replicas`).
    fn under(self, key: &str) -> ProtobufError {
        match self {
            ProtobufError::Field { path, message } => {
                let path = match (path.is_empty(), key.starts_with('[')) {
                    (true, _) => key.to_string(),
                    (false, true) => format!("{key}{path}"),
                    (false, false) if path.starts_with('[') => format!("{key}{path}"),
                    (false, false) => format!("{key}.{path}"),
                };
                ProtobufError::Field { path, message }
            }
            other => other,
        }
    }
}
