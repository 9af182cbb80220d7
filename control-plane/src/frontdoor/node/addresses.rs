//! One InternalIP per node: every agent routes a peer's pod CIDR to the peer's
//! InternalIP, so two nodes sharing one (Vagrant VMs that all report the NAT address
//! 10.0.2.15) would send one node's pod traffic to the other. Register refuses the
//! second node, naming both.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;

use super::register::internal_ips;
use crate::core::objects::decode;
use crate::core::Error;
use crate::store::Store;

/// Fails (AlreadyExists, naming both nodes and `--node-ip`) when another node than
/// `name` already has one of `ips` as an InternalIP.
pub async fn refuse_taken_address(
    store: &dyn Store,
    name: &str,
    ips: &[IpAddr],
) -> Result<(), Error> {
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
            let other = &stored.key.name;
            return Err(Error::AlreadyExists(format!(
                "node {name:?} reports InternalIP {ip}, which node {other:?} already has: start each agent with its own --node-ip (the address other nodes reach it on)"
            )));
        }
    }
    Ok(())
}
