//! Typed access to stored objects, shared by every layer above: decode and encode, the
//! read-modify-write forms, and the facts Kubernetes reads off objects (conditions, pod
//! phases, owner references, template hashes, rollout revisions).

mod conditions;
mod keys;
mod modify;
mod owners;
mod pods;
pub mod revisions;
pub mod template_hash;

pub use crate::store::{decode, encode, Modified};
pub use conditions::{node_condition, node_is_ready, set_node_condition, set_pod_condition};
pub use keys::{lease_key, node_key, pod_key, renew_time};
pub use modify::{decode_all, decode_or_skip, modify, modify_if, modify_or_create, write_status};
pub use owners::{
    controller_of, controller_ref, created, is_being_deleted, labels, remove_owner, revision_of,
};
pub use pods::{
    availability, is_active, is_ready, phase, pod_is_terminal, pod_node, ready_since, Availability,
};
