//! What the verbs return, in neutral Rust types: each front door turns them into its own
//! wire form (`frontdoor/wire.rs` for gRPC), so a second front door needs no gRPC type.

/// An object as served: its key, uid and revision, and its JSON with
/// `metadata.resourceVersion` set to the revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Object {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub json: Vec<u8>,
}

/// One event of a watch: ADDED, MODIFIED, DELETED (with the object), or BOOKMARK
/// (without one: the revision the stream has reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub r#type: String,
    pub object: Option<Object>,
    pub resource_version: String,
}
