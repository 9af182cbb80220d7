//! A pod's subresources beyond `status`: `binding` (what a scheduler writes), `eviction`
//! (what `kubectl drain` asks for).

pub mod binding;
pub mod eviction;
