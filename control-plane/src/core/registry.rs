//! The registry of kinds lives in the proto crate (`skiff_proto::kinds`), shared with
//! the CLI; requests resolve kinds through it (`kinds.rs`).

pub use skiff_proto::kinds::{KindInfo, KINDS};
