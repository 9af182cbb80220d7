//! Which nodes a DaemonSet's pods belong on, and the pod made for one node: Kubernetes'
//! `NodeShouldRunDaemonPod` over the scheduler's own predicates
//! (`controllers/nodes/scheduler/fit.rs`, `affinity.rs`), and its daemon pod template
//! (the tolerations every daemon pod gets, the node pinned by a `matchFields` term the
//! scheduler honours).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodTemplateSpec, Toleration,
};
use skiff_proto::model::map_selects;

use crate::controllers::nodes::scheduler::affinity::required_affinity_matches;
use crate::controllers::nodes::scheduler::fit::{scheduling_taints, tolerated};
use crate::core::objects::pod_node;

/// The label naming the template a daemon pod was made from (a hash of it).
pub const HASH_LABEL: &str = "controller-revision-hash";
/// The label carrying the DaemonSet's generation when the pod was made.
pub const GENERATION_LABEL: &str = "pod-template-generation";
const NODE_NAME_FIELD: &str = "metadata.name";

/// Whether a node should get a daemon pod, and whether one already there may stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub should_run: bool,
    pub should_continue: bool,
}

/// Kubernetes' `NodeShouldRunDaemonPod`: the node must match the template's nodeName,
/// nodeSelector and required node affinity; a NoSchedule or NoExecute taint the daemon
/// pod does not tolerate keeps a new pod off, and only an untolerated NoExecute taint
/// removes one already there. The taints are the scheduler's (the node's own plus those
/// its conditions imply), so a NotReady node keeps its daemon pod but gets no new one.
pub fn placement(ds: &DaemonSet, node: &Node) -> Placement {
    const NOWHERE: Placement = Placement {
        should_run: false,
        should_continue: false,
    };
    let name = node.metadata.name.clone().unwrap_or_default();
    let template = daemon_template(ds);
    let spec = template.spec.clone().unwrap_or_default();
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return NOWHERE;
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector_ok = spec
        .node_selector
        .as_ref()
        .is_none_or(|selector| map_selects(selector, &labels));
    if !selector_ok || !required_affinity_matches(&spec, &name, &labels) {
        return NOWHERE;
    }
    let pod = Pod {
        spec: Some(spec),
        ..Default::default()
    };
    let untolerated: Vec<_> = scheduling_taints(node)
        .into_iter()
        .filter(|t| !tolerated(&pod, t))
        .collect();
    Placement {
        should_run: untolerated.is_empty(),
        should_continue: untolerated.iter().all(|t| t.effect != "NoExecute"),
    }
}

/// The tolerations the DaemonSet controller adds to every daemon pod, so that a node's
/// condition taints never evict it and cordoning does not keep it off.
fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    wanted
        .into_iter()
        .map(|(key, effect)| Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Default::default()
        })
        .collect()
}

/// The DaemonSet's template with the daemon tolerations added (each once).
pub fn daemon_template(ds: &DaemonSet) -> PodTemplateSpec {
    let mut template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let spec = template.spec.get_or_insert_with(Default::default);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for wanted in daemon_tolerations(spec.host_network == Some(true)) {
        if !tolerations.contains(&wanted) {
            tolerations.push(wanted);
        }
    }
    template
}

/// The pod template for `node`: the daemon template labelled with its hash and the
/// DaemonSet's generation, pinned to the node by a required `matchFields metadata.name`
/// term (replacing any `matchFields` the user gave; Kubernetes does the same since 1.12,
/// so the scheduler binds daemon pods like any other).
pub fn template_for_node(ds: &DaemonSet, node: &str, hash: &str) -> PodTemplateSpec {
    let mut template = daemon_template(ds);
    let meta = template.metadata.get_or_insert_with(Default::default);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(HASH_LABEL.into(), hash.into());
    let generation = ds.metadata.generation.unwrap_or(1);
    labels.insert(GENERATION_LABEL.into(), generation.to_string());
    let spec = template.spec.get_or_insert_with(Default::default);
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    let pin = vec![NodeSelectorRequirement {
        key: NODE_NAME_FIELD.into(),
        operator: "In".into(),
        values: Some(vec![node.into()]),
    }];
    let required = node_affinity
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    if required.node_selector_terms.is_empty() {
        required
            .node_selector_terms
            .push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        term.match_fields = Some(pin.clone());
    }
    template
}

/// The node a daemon pod is for: where it is bound, or else where its `matchFields`
/// term pins it.
pub fn node_of(pod: &Pod) -> Option<String> {
    if let Some(node) = pod_node(pod) {
        return Some(node.to_string());
    }
    let terms = &pod
        .spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key == NODE_NAME_FIELD && r.operator == "In")
        .and_then(|r| r.values.as_ref()?.first().cloned())
}

/// Whether a daemon pod was made from the template with `hash`.
pub fn is_updated(pod: &Pod, hash: &str) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HASH_LABEL))
        .is_some_and(|h| h == hash)
}
