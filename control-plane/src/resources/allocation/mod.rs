//! Admission's allocations (docs/architecture.md, Control plane layers): a Service's
//! ClusterIP and NodePorts (`services.rs`, one store claim per value in `claims.rs`, so
//! nothing is handed out twice, across concurrent writes and restarts) and the nodes' pod
//! CIDRs (`cidr.rs`).

pub mod cidr;
pub mod cidr_claims;
pub mod claims;
mod services;

use serde_json::Value;

pub use cidr::{CidrError, PodCidrAllocator};
pub use claims::{IP_CLAIM, PORT_CLAIM};
pub use services::{allocate, claim_keys, repair, repair_claim, Allocation};

use crate::core::{Clock, Error, Ranges};
use crate::store::{Key, Store};

/// Apply's hook: for a Service, claims its ClusterIP and NodePorts and writes them into
/// `desired`; for any other kind, nothing. The caller commits the allocation after its
/// write and undoes it if the write does not happen.
pub async fn allocate_if_service(
    store: &dyn Store,
    clock: &dyn Clock,
    ranges: &Ranges,
    key: &Key,
    current: Option<&Value>,
    desired: &mut Value,
) -> Result<Allocation, Error> {
    if key.kind != "Service" {
        return Ok(Allocation::default());
    }
    allocate(store, clock, ranges, current, desired).await
}

/// Apply's hook before validating an update (`skiff_proto::last_applied`, shared with
/// the CLI's apply).
pub fn drop_allocated_node_ports(key: &Key, user: &Value, merged: &mut Value) {
    skiff_proto::last_applied::drop_allocated_node_ports(&key.kind, user, merged)
}
