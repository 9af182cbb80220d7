//! Store keys of the objects the node parts read and write, and what a Lease says.

use k8s_openapi::api::coordination::v1::Lease;

use crate::core::kinds::LEASE_NAMESPACE;
use crate::store::Key;

pub fn node_key(name: &str) -> Key {
    Key::new("Node", "", name)
}

pub fn lease_key(node: &str) -> Key {
    Key::new("Lease", LEASE_NAMESPACE, node)
}

pub fn pod_key(namespace: &str, name: &str) -> Key {
    Key::new("Pod", namespace, name)
}

/// When the node last renewed its lease, from a stored Lease.
pub fn renew_time(lease: &Lease) -> Option<jiff::Timestamp> {
    let spec = lease.spec.as_ref()?;
    spec.renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0)
}
