//! Pods' streaming subresources.

pub mod portforward;
