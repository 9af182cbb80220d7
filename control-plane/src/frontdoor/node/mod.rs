//! The `skiff.v1.Node` service agents call: Register (join token → node certificate and
//! pod CIDR), Heartbeat (the node's Lease in `kube-node-lease`, Ready=True), WatchPods
//! (the pods bound to the node, resumable from a resourceVersion), WatchServices and
//! WatchEndpoints (`watch_kind.rs`), UpdatePodStatus (only `status`, only for the
//! caller's own pods) and SyncMirrorPods (`resources::mirror`); for the pod network
//! across nodes, WatchNodes, UpdateNodeStatus and RecordNodeEvent (`node_network.rs`,
//! a node's own Node only), and Register's one-InternalIP-per-node check
//! (`addresses.rs`); GetPodObject (`pod_object.rs`: the ConfigMaps, Secrets, claims and
//! volumes of the node's own pods, Kubernetes' node authorizer); for storage,
//! ListReleasedVolumes and VolumeDeleted (`volumes.rs`, a node's own provisioned volumes
//! only); RecordPodEvents (`pod_events.rs`, the kubelet's events about the caller's pods);
//! RequestServiceAccountToken (`service_account_token.rs`: bound tokens for the node's
//! own pods).

mod addresses;
pub(crate) mod heartbeat;
mod node_network;
pub(crate) mod pod_events;
pub(crate) mod pod_object;
pub(crate) mod pod_status;
pub(crate) mod register;
mod service;
pub(crate) mod service_account_token;
pub(crate) mod volumes;
pub(crate) mod watch_kind;
pub(crate) mod watch_pods;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use skiff_proto::v1::node_server::{Node, NodeServer};

use crate::controllers::nodes::NodeContext;
use crate::core::{ControlPlane, Error};

pub use service::NodeService;

/// The `Node` gRPC service, ready to add to the API server's tonic router. Build it once
/// per process: it owns the pod CIDR allocator's lock.
pub fn node_service(cp: Arc<ControlPlane>) -> NodeServer<impl Node> {
    NodeServer::new(NodeService::new(NodeContext::new(cp)))
}

/// An agent's malformed request, as the Node service has always worded it.
fn invalid(what: String) -> Error {
    Error::Invalid(format!("invalid request: {what}"))
}

fn not_registered(node: String) -> Error {
    Error::NotFound(format!("node {node:?} is not registered: register first"))
}
