//! The pod network across nodes on a joined node: watches every Node, keeps the routes
//! (`network/podnet/`) in step with them, publishes this node's backend data (flannel's
//! annotations) for its peers, and reports peers it cannot route to: the node's
//! `NetworkUnavailable` condition, and a Warning event per new problem. A failure here
//! never stops the agent: the node's own pods keep working.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::{NodeConditionReport, RecordNodeEventRequest, UpdateNodeStatusRequest};
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tracing::{debug, warn};

use crate::network::podnet::{backend_annotations, peer_of, PeerProblem, PodnetSync, SyncReport};
use crate::services::watch::{self, Delta, ObjectKey, Watched};

/// A full pass even without changes: re-adds what someone deleted, retries failures.
const RESYNC: Duration = Duration::from_secs(30);
/// Changes arriving together (a list, a burst of heartbeats) make one pass.
const SETTLE: Duration = Duration::from_millis(50);

pub const CONDITION: &str = "NetworkUnavailable";

/// Runs forever (until the watch's channel closes).
pub async fn run(channel: Channel, node_name: String, mut podnet: PodnetSync) {
    podnet.ensure_device().await;
    let (tx, mut rx) = mpsc::channel::<Delta<Node>>(256);
    tokio::spawn(watch::run(
        channel.clone(),
        node_name.clone(),
        Watched::Nodes,
        tx,
    ));
    let mut reporter = Reporter::new(channel, node_name);
    let mut nodes: BTreeMap<ObjectKey, Node> = BTreeMap::new();
    let mut listed = false;
    loop {
        let first = tokio::select! {
            delta = rx.recv() => match delta {
                Some(delta) => Some(delta),
                None => return,
            },
            _ = tokio::time::sleep(RESYNC) => None,
        };
        if let Some(delta) = first {
            listed |= apply(&mut nodes, delta);
            tokio::time::sleep(SETTLE).await;
            while let Ok(delta) = rx.try_recv() {
                listed |= apply(&mut nodes, delta);
            }
        }
        // Before the first list, removing "stale" routes would drop every peer's.
        if !listed {
            continue;
        }
        let peers: Vec<_> = nodes.values().map(peer_of).collect();
        match podnet.sync(&peers).await {
            Ok(report) => reporter.report(&podnet, &report).await,
            Err(error) => warn!(%error, "pod network sync failed; retrying"),
        }
    }
}

/// Folds a delta into the set; true once a complete list has been seen.
fn apply(nodes: &mut BTreeMap<ObjectKey, Node>, delta: Delta<Node>) -> bool {
    match delta {
        Delta::Resync(all) => {
            *nodes = all;
            return true;
        }
        Delta::Upsert(key, node) => {
            nodes.insert(key, node);
        }
        Delta::Remove(key) => {
            nodes.remove(&key);
        }
        Delta::Reconnected => {}
    }
    false
}

/// What has been told to the control plane, so only changes are sent.
struct Reporter {
    client: NodeClient<Channel>,
    node_name: String,
    annotations: Option<BTreeMap<String, String>>,
    condition: Option<(String, String, String)>,
    problems: BTreeSet<PeerProblem>,
}

impl Reporter {
    fn new(channel: Channel, node_name: String) -> Self {
        Reporter {
            client: NodeClient::new(channel),
            node_name,
            annotations: None,
            condition: None,
            problems: BTreeSet::new(),
        }
    }

    async fn report(&mut self, podnet: &PodnetSync, report: &SyncReport) {
        let local = podnet.local();
        let annotations = backend_annotations(local.backend, local.node_ip, podnet.vtep_mac());
        let mut problems: Vec<PeerProblem> = report.problems.clone();
        if let Some(error) = podnet.vxlan_error() {
            problems.push(PeerProblem {
                peer: local.name.clone(),
                reason: "VxlanUnavailable".into(),
                message: error.to_string(),
            });
        }
        let condition = condition_of(&problems);
        let send_annotations = self.annotations.as_ref() != Some(&annotations);
        if send_annotations || self.condition.as_ref() != Some(&condition) {
            let (status, reason, message) = condition.clone();
            let req = UpdateNodeStatusRequest {
                node_name: self.node_name.clone(),
                annotations: annotations.clone().into_iter().collect(),
                conditions: vec![NodeConditionReport {
                    r#type: CONDITION.into(),
                    status,
                    reason,
                    message,
                }],
            };
            match self.client.update_node_status(req).await {
                Ok(_) => {
                    self.annotations = Some(annotations);
                    self.condition = Some(condition);
                }
                Err(status) => {
                    warn!(code = ?status.code(), message = status.message(), "node network status not sent");
                }
            }
        }
        let now: BTreeSet<PeerProblem> = problems.into_iter().collect();
        // A peer that has not published its data yet is normal while a cluster starts:
        // the condition says so, but it is no event.
        let noteworthy = now
            .difference(&self.problems)
            .filter(|p| !matches!(p.reason.as_str(), "NoVtep" | "NoPodCIDR"));
        for problem in noteworthy {
            let req = RecordNodeEventRequest {
                node_name: self.node_name.clone(),
                r#type: "Warning".into(),
                reason: problem.reason.clone(),
                message: problem.message.clone(),
            };
            if let Err(status) = self.client.record_node_event(req).await {
                debug!(code = ?status.code(), "node event not recorded");
            }
        }
        self.problems = now;
    }
}

/// NetworkUnavailable from the problems: False when every peer has its route, True with
/// the first reason and every message otherwise.
pub fn condition_of(problems: &[PeerProblem]) -> (String, String, String) {
    match problems.first() {
        None => (
            "False".into(),
            "RouteCreated".into(),
            "skiff-agent routes to every node's pods".into(),
        ),
        Some(first) => (
            "True".into(),
            first.reason.clone(),
            problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Node {
        Node {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn key(name: &str) -> ObjectKey {
        (String::new(), name.into())
    }

    #[test]
    fn deltas_fold_into_the_node_set_and_only_a_list_counts_as_complete() {
        let mut nodes = BTreeMap::new();
        assert!(!apply(&mut nodes, Delta::Upsert(key("n1"), node("n1"))));
        assert!(!apply(&mut nodes, Delta::Reconnected));
        let listed = BTreeMap::from([(key("n2"), node("n2")), (key("n3"), node("n3"))]);
        assert!(apply(&mut nodes, Delta::Resync(listed)));
        assert_eq!(
            nodes.keys().cloned().collect::<Vec<_>>(),
            [key("n2"), key("n3")]
        );
        apply(&mut nodes, Delta::Remove(key("n2")));
        assert_eq!(nodes.keys().cloned().collect::<Vec<_>>(), [key("n3")]);
    }

    #[test]
    fn the_condition_is_false_without_problems_and_names_every_one_otherwise() {
        assert_eq!(condition_of(&[]).0, "False");
        let problem = |peer: &str, reason: &str| PeerProblem {
            peer: peer.into(),
            reason: reason.into(),
            message: format!("{peer}: {reason}"),
        };
        let (status, reason, message) = condition_of(&[
            problem("n2", "NoDirectRoute"),
            problem("n3", "OverlappingPodCIDR"),
        ]);
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("True", "NoDirectRoute")
        );
        assert_eq!(message, "n2: NoDirectRoute; n3: OverlappingPodCIDR");
    }
}
