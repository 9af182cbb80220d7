//! A pod's subresources beyond `status`: `binding` (what a scheduler writes), `eviction`
//! (what `kubectl drain` asks for), `portforward` (`kubectl port-forward`).

pub mod binding;
pub mod eviction;
pub mod portforward;
