//! Where a pod's agent is: the pod's `spec.nodeName`, that Node's InternalIP.

use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::core::objects::{decode, node_key, pod_key, pod_node};
use crate::core::Error;
use crate::store::Store;

/// The port agents serve their API on for the control plane (the kubelet's).
pub const AGENT_PORT: u16 = 10250;

pub use crate::core::annotations::MIRROR_ANNOTATION;

/// The agent that runs a pod, and the pod's name there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTarget {
    pub node: String,
    pub address: IpAddr,
    pub port: u16,
    /// The pod as the agent knows it (a mirror pod's static pod has its own name).
    pub namespace: String,
    pub pod: String,
}

impl AgentTarget {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// Finds the node of pod `namespace/name` and its address, with a clear error when the
/// pod does not exist, is not scheduled yet, or its node is gone or has no address.
pub async fn locate(store: &dyn Store, namespace: &str, name: &str) -> Result<AgentTarget, Error> {
    let namespace = if namespace.is_empty() {
        "default"
    } else {
        namespace
    };
    let stored = store.get(&pod_key(namespace, name)).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "pods \"{name}\" not found in namespace {namespace}"
        ))
    })?;
    let pod: Pod = decode(&stored).map_err(|e| Error::Internal(e.to_string()))?;
    let Some(node_name) = pod_node(&pod) else {
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into());
        return Err(Error::FailedPrecondition(format!(
            "pod {name} is not scheduled on a node yet ({phase}); see `skiff describe pod {name}` for why"
        )));
    };
    let node_stored = store.get(&node_key(node_name)).await?.ok_or_else(|| {
        Error::Unavailable(format!(
            "pod {name} is bound to node {node_name}, which no longer exists"
        ))
    })?;
    let node: Node = decode(&node_stored).map_err(|e| Error::Internal(e.to_string()))?;
    let address = node_address(&node).ok_or_else(|| {
        Error::Unavailable(format!(
            "node {node_name} has no InternalIP address to reach its agent at"
        ))
    })?;
    Ok(AgentTarget {
        node: node_name.to_string(),
        address,
        port: AGENT_PORT,
        namespace: namespace.to_string(),
        pod: agent_pod_name(&pod, name, node_name),
    })
}

/// The node's first InternalIP (any parseable address if it has none typed so).
fn node_address(node: &Node) -> Option<IpAddr> {
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    addresses
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .chain(addresses.iter())
        .find_map(|a| a.address.parse().ok())
}

/// A mirror pod `<name>-<node>` is the static pod `<name>` on its node; every other pod
/// has the same name on the agent.
pub fn agent_pod_name(pod: &Pod, name: &str, node: &str) -> String {
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
    match name.strip_suffix(&format!("-{node}")) {
        Some(local) if mirror && !local.is_empty() => local.to_string(),
        _ => name.to_string(),
    }
}
