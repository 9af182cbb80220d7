//! One InternalIP per node: every agent routes a peer's pod CIDR to the peer's
//! InternalIP, so two nodes sharing one (Vagrant VMs that all report the NAT address
//! 10.0.2.15) would send one node's pod traffic to the other. Register refuses the
//! second node, naming both.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;

use super::error::NodesError;
use super::objects::decode;
use super::register::internal_ips;
use crate::store::Store;

/// Fails with [`NodesError::AddressTaken`] when another node than `name` already has one
/// of `ips` as an InternalIP.
pub async fn refuse_taken_address(
    store: &dyn Store,
    name: &str,
    ips: &[IpAddr],
) -> Result<(), NodesError> {
    if ips.is_empty() {
        return Ok(());
    }
    let (nodes, _) = store.list("Node", None).await?;
    for stored in &nodes {
        if stored.key.name == name {
            continue;
        }
        let node: Node = decode(stored)?;
        if let Some(ip) = internal_ips(&node).into_iter().find(|ip| ips.contains(ip)) {
            return Err(NodesError::AddressTaken {
                node: name.to_string(),
                other: stored.key.name.clone(),
                ip,
            });
        }
    }
    Ok(())
}
