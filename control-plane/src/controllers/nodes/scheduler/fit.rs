//! Whether a pod fits a node, and which of the fitting nodes it goes to: the filter and
//! score plugins of Kubernetes' default scheduler that matter on a small cluster, pure
//! functions over a snapshot.
//!
//! Filters run in Kubernetes' order and a node fails on the first one that rejects it;
//! the reasons are Kubernetes' own strings, so an unschedulable pod's message reads the
//! same as with kubectl.

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use skiff_proto::model::{map_selects, to_bytes, to_millicores};

use super::affinity::required_affinity_matches;
use super::requests::{pod_requests, Requests};
use crate::core::objects::{node_condition, pod_is_terminal, pod_node};

pub const REASON_SELECTOR: &str = "node(s) didn't match Pod's node affinity/selector";
pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const REASON_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
pub const REASON_TOO_MANY_PODS: &str = "Too many pods";
pub const REASON_CPU: &str = "Insufficient cpu";
pub const REASON_MEMORY: &str = "Insufficient memory";

/// Kubernetes' default when a node does not say how many pods it takes.
const DEFAULT_MAX_PODS: u64 = 110;

/// Pods that should land on different nodes when possible: replicas of one controller,
/// or bare pods with the same labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Group {
    Owner(String),
    Labels(String, BTreeMap<String, String>),
}

pub fn group_of(pod: &Pod) -> Option<Group> {
    let meta = &pod.metadata;
    let owner = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    if let Some(owner) = owner {
        return Some(Group::Owner(owner.uid.clone()));
    }
    let labels = meta.labels.clone().filter(|l| !l.is_empty())?;
    Some(Group::Labels(
        meta.namespace.clone().unwrap_or_default(),
        labels,
    ))
}

/// A node as the scheduler sees it in one pass: what it offers and what is already on it.
#[derive(Debug)]
pub struct NodeInfo {
    pub name: String,
    pub node: Node,
    allocatable: Requests,
    max_pods: u64,
    requested: Requests,
    pub pod_count: usize,
    groups: HashMap<Group, usize>,
    host_ports: HashSet<(String, String, i32)>,
}

impl NodeInfo {
    pub fn new(node: Node) -> Self {
        let status = node.status.as_ref();
        let offered = status
            .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
            .cloned()
            .unwrap_or_default();
        let allocatable = Requests {
            cpu: offered.get("cpu").and_then(to_millicores).unwrap_or(0),
            memory: offered.get("memory").and_then(to_bytes).unwrap_or(0),
        };
        let max_pods = offered
            .get("pods")
            .and_then(|q| q.0.parse().ok())
            .unwrap_or(DEFAULT_MAX_PODS);
        NodeInfo {
            name: node.metadata.name.clone().unwrap_or_default(),
            node,
            allocatable,
            max_pods,
            requested: Requests::default(),
            pod_count: 0,
            groups: HashMap::new(),
            host_ports: HashSet::new(),
        }
    }

    /// Accounts for a pod bound to this node (a finished pod holds nothing).
    pub fn add_pod(&mut self, pod: &Pod) {
        if pod_is_terminal(pod) {
            return;
        }
        self.requested = self.requested.plus(pod_requests(pod));
        self.pod_count += 1;
        if let Some(group) = group_of(pod) {
            *self.groups.entry(group).or_default() += 1;
        }
        self.host_ports.extend(host_ports(pod));
    }

    pub fn group_count(&self, group: Option<&Group>) -> usize {
        group.and_then(|g| self.groups.get(g)).copied().unwrap_or(0)
    }
}

/// The nodes, sorted by name, with the pods bound to them accounted for.
pub fn snapshot(nodes: Vec<Node>, pods: &[Pod]) -> Vec<NodeInfo> {
    let mut infos: Vec<NodeInfo> = nodes.into_iter().map(NodeInfo::new).collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    let index: HashMap<String, usize> = infos
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), i))
        .collect();
    for pod in pods {
        if let Some(&i) = pod_node(pod).and_then(|n| index.get(n)) {
            infos[i].add_pod(pod);
        }
    }
    infos
}

/// Accounts for `pod` on the node it is bound to, if that is one of `infos` (sorted by
/// name, as [`snapshot`] makes them).
pub fn account(infos: &mut [NodeInfo], pod: &Pod) {
    let Some(node) = pod_node(pod) else {
        return;
    };
    if let Ok(i) = infos.binary_search_by(|info| info.name.as_str().cmp(node)) {
        infos[i].add_pod(pod);
    }
}

fn host_ports(pod: &Pod) -> Vec<(String, String, i32)> {
    let spec = pod.spec.iter();
    spec.flat_map(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
    })
    .flat_map(|c| c.ports.iter().flatten())
    .filter_map(|p| {
        let port = p.host_port.filter(|p| *p > 0)?;
        let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        Some((protocol, p.host_ip.clone().unwrap_or_default(), port))
    })
    .collect()
}

/// Kubernetes' toleration rule: does `toleration` tolerate `taint`?
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect_ok = toleration
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = toleration.key.as_deref().unwrap_or_default();
    let exists = toleration.operator.as_deref() == Some("Exists");
    let key_ok = (key.is_empty() && exists) || key == taint.key;
    let value_ok = exists
        || toleration.value.as_deref().unwrap_or_default()
            == taint.value.as_deref().unwrap_or_default();
    effect_ok && key_ok && value_ok
}

pub(crate) fn tolerated(pod: &Pod, taint: &Taint) -> bool {
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_ref());
    tolerations
        .iter()
        .flat_map(|t| t.iter())
        .any(|t| tolerates(t, taint))
}

fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        effect: effect.into(),
        ..Default::default()
    }
}

/// The taints that keep new pods off the node: its own, plus the ones Kubernetes' node
/// lifecycle controller would add for a node that is not Ready.
pub(crate) fn scheduling_taints(node: &Node) -> Vec<Taint> {
    let mut taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .collect();
    match node_condition(node, "Ready").map(|c| c.status.as_str()) {
        Some("True") => {}
        Some("Unknown") => taints.push(taint("node.kubernetes.io/unreachable", "NoSchedule")),
        _ => taints.push(taint("node.kubernetes.io/not-ready", "NoSchedule")),
    }
    taints
}

/// Why `info`'s node can't take `pod`; empty when it can.
pub fn unfit_reasons(pod: &Pod, info: &NodeInfo) -> Vec<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let node = &info.node;
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
        && !tolerated(
            pod,
            &taint("node.kubernetes.io/unschedulable", "NoSchedule"),
        )
    {
        return vec![REASON_UNSCHEDULABLE.into()];
    }
    if let Some(t) = scheduling_taints(node).iter().find(|t| !tolerated(pod, t)) {
        let value = t.value.as_deref().unwrap_or_default();
        return vec![format!(
            "node(s) had untolerated taint {{{}: {value}}}",
            t.key
        )];
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector_ok = spec
        .node_selector
        .as_ref()
        .is_none_or(|selector| map_selects(selector, &labels));
    if !selector_ok || !required_affinity_matches(&spec, &info.name, &labels) {
        return vec![REASON_SELECTOR.into()];
    }
    let conflict = host_ports(pod).iter().any(|(proto, ip, port)| {
        info.host_ports.iter().any(|(p, i, n)| {
            p == proto && n == port && (i.is_empty() || ip.is_empty() || i == ip || i == "0.0.0.0")
        })
    });
    if conflict {
        return vec![REASON_PORTS.into()];
    }
    let wanted = pod_requests(pod);
    let mut reasons = Vec::new();
    if info.pod_count as u64 + 1 > info.max_pods {
        reasons.push(REASON_TOO_MANY_PODS.into());
    }
    if wanted.cpu > 0 && info.requested.cpu + wanted.cpu > info.allocatable.cpu {
        reasons.push(REASON_CPU.into());
    }
    if wanted.memory > 0 && info.requested.memory + wanted.memory > info.allocatable.memory {
        reasons.push(REASON_MEMORY.into());
    }
    reasons
}

/// The node to bind to among the fitting ones (indices into `infos`): fewest pods of the
/// pod's group, then fewest pods, then the first by name.
pub fn pick(pod: &Pod, infos: &[NodeInfo], feasible: &[usize]) -> Option<usize> {
    let group = group_of(pod);
    feasible.iter().copied().min_by(|&a, &b| {
        let (a, b) = (&infos[a], &infos[b]);
        (a.group_count(group.as_ref()), a.pod_count, &a.name).cmp(&(
            b.group_count(group.as_ref()),
            b.pod_count,
            &b.name,
        ))
    })
}

/// Kubernetes' FailedScheduling message: `0/2 nodes are available: 1 Insufficient
/// memory, 1 node(s) didn't match Pod's node affinity/selector.` (counts, then sorted).
pub fn unschedulable_message(nodes: usize, reasons: &BTreeMap<String, usize>) -> String {
    if nodes == 0 {
        return "no nodes available to schedule pods".into();
    }
    let mut parts: Vec<String> = reasons
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    parts.sort();
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}
