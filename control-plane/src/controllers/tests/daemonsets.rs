//! The DaemonSet controller: a pod per eligible node (nodeSelector, taints, the daemon
//! tolerations), nodes joining and leaving, failed pods, RollingUpdate with
//! maxUnavailable and maxSurge, OnDelete, status.

use k8s_openapi::api::apps::v1::DaemonSet;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, Node};

use super::*;
use crate::controllers::daemonset::{DaemonSetController, GENERATION_LABEL, HASH_LABEL};
use crate::controllers::nodes::scheduler::fit::{unfit_reasons, NodeInfo};
use crate::controllers::Action;
use crate::core::objects::is_active;

const DS: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: c
        image: busybox:1
";

struct Daemons {
    h: Harness,
    ds: DaemonSetController,
}

impl Daemons {
    async fn new(nodes: &[&str]) -> Daemons {
        let h = Harness::new().await;
        let ctx = Arc::new(ControllerContext {
            store: h.store.clone(),
            clock: Arc::new(h.clock.clone()),
        });
        let d = Daemons {
            h,
            ds: DaemonSetController::new(ctx),
        };
        for node in nodes {
            d.put_node(node, json!({}), "True").await;
        }
        d
    }

    /// Creates or replaces node `name` with `spec` and a Ready condition of `ready`.
    async fn put_node(&self, name: &str, spec: Value, ready: &str) {
        self.put_node_labelled(name, json!({}), spec, ready).await;
    }

    async fn put_node_labelled(&self, name: &str, labels: Value, spec: Value, ready: &str) {
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": format!("uid-{name}"), "labels": labels},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": ready}]},
        });
        let key = Key::new("Node", "", name);
        let bytes = serde_json::to_vec(&node).unwrap();
        match self.h.store.get(&key).await.unwrap() {
            Some(old) => {
                self.h
                    .store
                    .update(key, bytes, Some(old.revision))
                    .await
                    .unwrap();
            }
            None => {
                self.h
                    .store
                    .create(key, format!("uid-{name}"), bytes)
                    .await
                    .unwrap();
            }
        }
    }

    async fn settle(&self) {
        for _ in 0..50 {
            let before = self.h.revision().await;
            for key in self.h.keys("DaemonSet").await {
                self.ds.reconcile(&key).await.unwrap();
            }
            if self.h.revision().await == before {
                return;
            }
        }
        panic!("the daemonset controller never settled");
    }

    /// The scheduler's and kubelet's part: every pending daemon pod bound to the node its
    /// affinity names and Running, Ready when `ready` says so.
    async fn kubelet(&self, ready: impl Fn(&Pod) -> bool) {
        let now = self.h.clock.now_string();
        for stored in self.h.store.list("Pod", None).await.unwrap().0 {
            let pod: Pod = decode(&stored).unwrap();
            if !is_active(&pod) {
                continue;
            }
            let was_ready = crate::core::objects::is_ready(&pod);
            let status = if ready(&pod) { "True" } else { "False" };
            if pod.spec.as_ref().unwrap().node_name.is_some() && was_ready == (status == "True") {
                continue;
            }
            let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
            value["spec"]["nodeName"] = json!(pinned_node(&pod));
            value["status"] = json!({
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": status, "lastTransitionTime": now}],
            });
            self.h.write(stored, &value).await;
        }
    }

    /// Active pods by node.
    async fn pods_by_node(&self) -> BTreeMap<String, Vec<Pod>> {
        let mut map: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
        for pod in self.h.pods().await.into_iter().filter(is_active) {
            map.entry(pinned_node(&pod)).or_default().push(pod);
        }
        map
    }

    async fn nodes_with_pods(&self) -> Vec<String> {
        self.pods_by_node().await.into_keys().collect()
    }

    async fn daemon_set(&self) -> DaemonSet {
        self.h
            .get("DaemonSet", "agent")
            .await
            .expect("the ds exists")
    }

    /// (desired, current, ready, available, updated, misscheduled)
    async fn counts(&self) -> (i32, i32, i32, i32, i32, i32) {
        let s = self.daemon_set().await.status.unwrap_or_default();
        (
            s.desired_number_scheduled,
            s.current_number_scheduled,
            s.number_ready,
            s.number_available.unwrap_or(0),
            s.updated_number_scheduled.unwrap_or(0),
            s.number_misscheduled,
        )
    }

    async fn reasons(&self) -> Vec<String> {
        let (items, _) = self.h.store.list("Event", Some("default")).await.unwrap();
        items
            .iter()
            .map(|s| decode::<Event>(s).unwrap())
            .filter(|e| e.involved_object.kind.as_deref() == Some("DaemonSet"))
            .filter_map(|e| e.reason)
            .collect()
    }
}

/// The node the pod's `matchFields metadata.name` term names.
fn pinned_node(pod: &Pod) -> String {
    let value = serde_json::to_value(pod).unwrap();
    let terms = &value["spec"]["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
    let field = &terms[0]["matchFields"][0];
    assert_eq!(field["key"], "metadata.name");
    assert_eq!(field["operator"], "In");
    field["values"][0].as_str().unwrap().to_string()
}

fn hash_of(pod: &Pod) -> String {
    pod.metadata.labels.as_ref().unwrap()[HASH_LABEL].clone()
}

fn names(nodes: &[&str]) -> Vec<String> {
    nodes.iter().map(|n| n.to_string()).collect()
}

#[tokio::test]
async fn one_pinned_pod_per_node_with_the_daemon_labels_and_tolerations() {
    let d = Daemons::new(&["n1", "n2", "n3"]).await;
    d.h.apply(DS).await;
    d.settle().await;
    let by_node = d.pods_by_node().await;
    assert_eq!(
        by_node.keys().cloned().collect::<Vec<_>>(),
        names(&["n1", "n2", "n3"])
    );
    let ds = d.daemon_set().await;
    for pods in by_node.values() {
        assert_eq!(pods.len(), 1);
        let pod = &pods[0];
        let name = pod.metadata.name.as_deref().unwrap();
        assert_eq!(name.strip_prefix("agent-").expect(name).len(), 5, "{name}");
        assert_eq!(owner_name(&pod.metadata).as_deref(), Some("agent"));
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app"], "agent");
        assert_eq!(labels[GENERATION_LABEL], "1");
        assert!(!labels[HASH_LABEL].is_empty());
        let tolerations = pod.spec.as_ref().unwrap().tolerations.clone().unwrap();
        for (key, effect) in [
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
        ] {
            assert!(
                tolerations.iter().any(|t| t.key.as_deref() == Some(key)
                    && t.effect.as_deref() == Some(effect)
                    && t.operator.as_deref() == Some("Exists")),
                "{key}:{effect} in {tolerations:?}"
            );
        }
        assert!(!tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/network-unavailable")));
    }
    assert_eq!(d.counts().await, (3, 3, 0, 0, 3, 0));
    assert_eq!(ds.status.unwrap().observed_generation, Some(1));
    d.kubelet(|_| true).await;
    d.settle().await;
    assert_eq!(d.counts().await, (3, 3, 3, 3, 3, 0));
    let status = d.daemon_set().await.status.unwrap();
    assert_eq!(status.number_unavailable, Some(0));
    let creates = d.reasons().await;
    assert_eq!(
        creates.iter().filter(|r| *r == "SuccessfulCreate").count(),
        3
    );
}

#[tokio::test]
async fn the_scheduler_fits_a_daemon_pod_only_on_its_node_even_when_cordoned() {
    let d = Daemons::new(&["n1"]).await;
    d.put_node("n2", json!({"unschedulable": true}), "True")
        .await;
    d.h.apply(DS).await;
    d.settle().await;
    let node = |name: &str, unschedulable: bool| -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "allocatable": {"cpu": "1", "memory": "1Gi"}},
        }))
        .unwrap()
    };
    let by_node = d.pods_by_node().await;
    assert_eq!(
        by_node.len(),
        2,
        "the cordoned node gets its daemon pod too"
    );
    let for_n2 = &by_node["n2"][0];
    assert!(unfit_reasons(for_n2, &NodeInfo::new(node("n2", true))).is_empty());
    assert_eq!(
        unfit_reasons(for_n2, &NodeInfo::new(node("n1", false))),
        [crate::controllers::nodes::scheduler::fit::REASON_SELECTOR]
    );
}

#[tokio::test]
async fn a_node_selector_picks_the_nodes_and_follows_label_changes() {
    let d = Daemons::new(&[]).await;
    d.put_node_labelled("n1", json!({"disk": "ssd"}), json!({}), "True")
        .await;
    d.put_node_labelled("n2", json!({"disk": "hdd"}), json!({}), "True")
        .await;
    d.h.apply(&DS.replace(
        "      containers:",
        "      nodeSelector:\n        disk: ssd\n      containers:",
    ))
    .await;
    d.settle().await;
    assert_eq!(d.nodes_with_pods().await, names(&["n1"]));
    assert_eq!(d.counts().await.0, 1);
    // n2 gains the label, n1 loses it: the pods follow.
    d.put_node_labelled("n2", json!({"disk": "ssd"}), json!({}), "True")
        .await;
    d.put_node_labelled("n1", json!({}), json!({}), "True")
        .await;
    d.settle().await;
    assert_eq!(d.nodes_with_pods().await, names(&["n2"]));
    assert!(d.reasons().await.contains(&"SuccessfulDelete".to_string()));
}

#[tokio::test]
async fn a_tainted_node_is_skipped_unless_tolerated_and_no_execute_evicts() {
    let d = Daemons::new(&["n1"]).await;
    let taint =
        |effect: &str| json!({"taints": [{"key": "dedicated", "value": "db", "effect": effect}]});
    d.put_node("n2", taint("NoSchedule"), "True").await;
    d.h.apply(DS).await;
    d.settle().await;
    assert_eq!(d.nodes_with_pods().await, names(&["n1"]));
    // A NoSchedule taint added later keeps the pod there; NoExecute removes it.
    d.put_node("n1", taint("NoSchedule"), "True").await;
    d.settle().await;
    assert_eq!(d.nodes_with_pods().await, names(&["n1"]));
    assert_eq!(
        d.counts().await,
        (0, 0, 0, 0, 0, 1),
        "kept but misscheduled"
    );
    d.put_node("n1", taint("NoExecute"), "True").await;
    d.settle().await;
    assert!(d.nodes_with_pods().await.is_empty());
    // Tolerated: both nodes.
    d.h.apply(&DS.replace(
        "      containers:",
        "      tolerations:\n      - key: dedicated\n        operator: Exists\n      containers:",
    ))
    .await;
    d.settle().await;
    assert_eq!(d.nodes_with_pods().await, names(&["n1", "n2"]));
}

#[tokio::test]
async fn unschedulable_and_not_ready_nodes_keep_their_daemon_pods() {
    let d = Daemons::new(&["n1", "n2"]).await;
    d.h.apply(DS).await;
    d.settle().await;
    d.kubelet(|_| true).await;
    d.put_node("n1", json!({"unschedulable": true}), "True")
        .await;
    d.put_node("n2", json!({}), "Unknown").await;
    d.settle().await;
    let before: Vec<String> =
        d.h.pods()
            .await
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
    assert_eq!(before.len(), 2);
    assert_eq!(d.nodes_with_pods().await, names(&["n1", "n2"]));
    // A node that is not Ready gets no new daemon pod (its condition's NoSchedule taint,
    // as in Kubernetes), but keeps the one it has: the pod tolerates NoExecute.
    d.put_node("n3", json!({}), "False").await;
    d.settle().await;
    assert_eq!(d.nodes_with_pods().await, names(&["n1", "n2"]));
    d.put_node("n3", json!({}), "True").await;
    d.settle().await;
    assert_eq!(d.nodes_with_pods().await, names(&["n1", "n2", "n3"]));
}

#[tokio::test]
async fn a_node_that_joins_gets_its_pod_and_a_deleted_node_loses_it() {
    let d = Daemons::new(&["n1"]).await;
    d.h.apply(DS).await;
    d.settle().await;
    d.put_node("n2", json!({}), "True").await;
    d.settle().await;
    assert_eq!(d.nodes_with_pods().await, names(&["n1", "n2"]));
    d.kubelet(|_| true).await;
    d.h.store
        .delete(&Key::new("Node", "", "n1"), None)
        .await
        .unwrap();
    d.settle().await;
    assert_eq!(d.nodes_with_pods().await, names(&["n2"]));
    assert_eq!(d.h.pods().await.len(), 1);
    assert_eq!(d.counts().await, (1, 1, 1, 1, 1, 0));
}

/// Fails the one daemon pod, as a node would; its name.
async fn fail_the_pod(d: &Daemons) -> String {
    d.kubelet(|_| true).await;
    let stored = d.h.store.list("Pod", None).await.unwrap().0.remove(0);
    let name = decode::<Pod>(&stored).unwrap().metadata.name.unwrap();
    d.h.write_status(stored, json!({"phase": "Failed"})).await;
    name
}

#[tokio::test]
async fn a_failed_daemon_pod_is_replaced_after_a_growing_delay() {
    let d = Daemons::new(&["n1"]).await;
    d.h.apply(DS).await;
    d.settle().await;
    let failed = fail_the_pod(&d).await;
    d.settle().await;
    let pods = d.h.pods().await;
    assert_eq!(pods.len(), 1);
    assert_ne!(pods[0].metadata.name.as_deref(), Some(failed.as_str()));
    assert!(d.reasons().await.contains(&"FailedDaemonPod".to_string()));
    // Failing again at once: kept until its 1 s delay is over (the reconcile asks to
    // run again then), then 2 s for the next one.
    let key = Key::new("DaemonSet", "default", "agent");
    for delay in [1, 2] {
        let failed = fail_the_pod(&d).await;
        d.settle().await;
        assert_eq!(
            d.h.pods().await[0].metadata.name.as_deref(),
            Some(failed.as_str())
        );
        let action = d.ds.reconcile(&key).await.unwrap();
        assert!(
            matches!(action, Action::Requeue(t) if t > std::time::Duration::from_millis(delay * 1000 - 100) && t <= std::time::Duration::from_millis(delay * 1000 + 100)),
            "{action:?} for {delay}s"
        );
        d.h.clock.advance(std::time::Duration::from_secs(delay));
        d.settle().await;
        let pods = d.h.pods().await;
        assert_eq!(pods.len(), 1);
        assert_ne!(pods[0].metadata.name.as_deref(), Some(failed.as_str()));
    }
}

/// Applies a new image and drives the rollout: each round the kubelet readies what runs
/// (`ready_new` decides for new-template pods); returns, per round, the nodes without an
/// available pod and the number of pods.
async fn roll(d: &Daemons, manifest: &str, rounds: usize) -> Vec<(usize, usize)> {
    d.h.apply(&manifest.replace("busybox:1", "busybox:2")).await;
    let mut seen = Vec::new();
    for _ in 0..rounds {
        d.settle().await;
        let pods: Vec<Pod> = d.h.pods().await.into_iter().filter(is_active).collect();
        let nodes = ["n1", "n2", "n3"];
        let serving = nodes
            .iter()
            .filter(|n| {
                pods.iter().any(|p| {
                    p.spec.as_ref().unwrap().node_name.as_deref() == Some(**n)
                        && crate::core::objects::is_ready(p)
                })
            })
            .count();
        seen.push((nodes.len() - serving, pods.len()));
        d.kubelet(|_| true).await;
    }
    seen
}

async fn settled_on_new(d: &Daemons) {
    d.settle().await;
    let pods = d.h.pods().await;
    let new_hash = hash_of(&pods[0]);
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| hash_of(p) == new_hash));
    assert!(pods
        .iter()
        .all(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("busybox:2")));
    let ds = d.daemon_set().await;
    assert_eq!(d.counts().await, (3, 3, 3, 3, 3, 0));
    assert_eq!(ds.status.unwrap().observed_generation, Some(2));
    assert_eq!(
        pods[0].metadata.labels.as_ref().unwrap()[GENERATION_LABEL],
        "2"
    );
}

async fn running(nodes: &[&str], manifest: &str) -> Daemons {
    let d = Daemons::new(nodes).await;
    d.h.apply(manifest).await;
    d.settle().await;
    d.kubelet(|_| true).await;
    d.settle().await;
    d
}

#[tokio::test]
async fn a_rolling_update_replaces_max_unavailable_nodes_at_a_time() {
    let d = running(&["n1", "n2", "n3"], DS).await;
    let seen = roll(&d, DS, 5).await;
    // One node down at a time, never two; never more pods than nodes.
    assert!(
        seen.iter().all(|(down, pods)| *down <= 1 && *pods <= 3),
        "{seen:?}"
    );
    settled_on_new(&d).await;

    let two = DS.replace(
        "spec:\n  selector:",
        "spec:\n  updateStrategy:\n    rollingUpdate:\n      maxUnavailable: 50%\n  selector:",
    );
    let d = running(&["n1", "n2", "n3"], &two).await;
    let seen = roll(&d, &two, 4).await;
    assert_eq!(seen[0].0, 2, "50% of 3 rounds up to 2: {seen:?}");
    settled_on_new(&d).await;
}

#[tokio::test]
async fn max_surge_starts_the_new_pod_before_the_old_one_goes() {
    let surge = DS.replace(
        "spec:\n  selector:",
        "spec:\n  minReadySeconds: 5\n  updateStrategy:\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n  selector:",
    );
    let d = running(&["n1", "n2", "n3"], &surge).await;
    d.h.clock.advance(std::time::Duration::from_secs(10));
    d.h.apply(&surge.replace("busybox:1", "busybox:2")).await;
    d.settle().await;
    let by_node = d.pods_by_node().await;
    assert_eq!(
        by_node.values().map(Vec::len).sum::<usize>(),
        4,
        "one surge pod"
    );
    let doubled: Vec<_> = by_node.iter().filter(|(_, p)| p.len() == 2).collect();
    assert_eq!(doubled.len(), 1);
    // Ready but not yet available (minReadySeconds): the old pod stays.
    d.kubelet(|_| true).await;
    d.settle().await;
    assert_eq!(d.h.pods().await.len(), 4);
    d.h.clock.advance(std::time::Duration::from_secs(6));
    d.settle().await;
    let pods = d.h.pods().await;
    assert_eq!(pods.len(), 4, "the old pod went and the next node surged");
    for _ in 0..6 {
        d.kubelet(|_| true).await;
        d.settle().await;
        d.h.clock.advance(std::time::Duration::from_secs(6));
        assert!(d.h.pods().await.len() <= 4);
    }
    settled_on_new(&d).await;
}

#[tokio::test]
async fn on_delete_replaces_only_the_pods_the_user_deletes() {
    let on_delete = DS.replace(
        "spec:\n  selector:",
        "spec:\n  updateStrategy:\n    type: OnDelete\n  selector:",
    );
    let d = running(&["n1", "n2"], &on_delete).await;
    let old_hash = hash_of(&d.h.pods().await[0]);
    d.h.apply(&on_delete.replace("busybox:1", "busybox:2"))
        .await;
    d.settle().await;
    let pods = d.h.pods().await;
    assert!(pods.iter().all(|p| hash_of(p) == old_hash));
    assert_eq!(d.counts().await.4, 0, "none updated");
    let victim = pods[0].metadata.name.clone().unwrap();
    d.h.delete("Pod", &victim, "").await;
    d.settle().await;
    let pods = d.h.pods().await;
    assert_eq!(pods.len(), 2);
    let new: Vec<_> = pods.iter().filter(|p| hash_of(p) != old_hash).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(
        new[0].spec.as_ref().unwrap().containers[0].image.as_deref(),
        Some("busybox:2")
    );
}

#[tokio::test]
async fn node_and_pod_events_trigger_their_daemon_sets() {
    use crate::store::{Event as StoreEvent, EventType};
    let d = Daemons::new(&["n1"]).await;
    d.h.apply(DS).await;
    d.settle().await;
    let agent = Key::new("DaemonSet", "default", "agent");
    let node =
        d.h.store
            .get(&Key::new("Node", "", "n1"))
            .await
            .unwrap()
            .unwrap();
    let event = StoreEvent {
        kind: EventType::Added,
        object: node,
    };
    assert_eq!(d.ds.triggers(&event).await, std::slice::from_ref(&agent));
    let pod = d.h.store.list("Pod", None).await.unwrap().0.remove(0);
    let event = StoreEvent {
        kind: EventType::Deleted,
        object: pod,
    };
    assert_eq!(d.ds.triggers(&event).await, [agent]);
}

#[tokio::test]
async fn an_orphan_matching_the_selector_is_adopted_for_its_node() {
    let d = Daemons::new(&["n1", "n2"]).await;
    d.h.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: stray\n  labels: {app: agent}\nspec:\n  nodeName: n1\n  containers: [{name: c, image: busybox:1}]\n",
    )
    .await;
    d.h.apply(DS).await;
    let key = Key::new("DaemonSet", "default", "agent");
    d.ds.reconcile(&key).await.unwrap();
    let pods = d.h.pods().await;
    assert_eq!(pods.len(), 2, "{pods:?}");
    let stray = pods
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("stray"))
        .unwrap();
    assert_eq!(owner_name(&stray.metadata).as_deref(), Some("agent"));
    let created = pods
        .iter()
        .find(|p| p.metadata.name.as_deref() != Some("stray"))
        .unwrap();
    assert_eq!(pinned_node(created), "n2");
}
