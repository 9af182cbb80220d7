//! The scheduler: passes driven directly, and the running loop reacting to a label.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::{json, Value};

use super::{bound_pod, eventually, pod, Fixture};
use crate::controllers::nodes::{spawn_background_with, NodeContext, Scheduler, Timing};
use crate::core::objects::{decode, node_key, pod_key, pod_node};

fn with_selector(name: &str, key: &str, value: &str) -> Value {
    let mut p = pod(name);
    p["spec"]["nodeSelector"] = json!({ key: value });
    p
}

fn requesting(mut p: Value, cpu: &str, memory: &str) -> Value {
    p["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": cpu, "memory": memory}});
    p
}

fn owned_by(mut p: Value, owner: &str) -> Value {
    p["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
        "uid": format!("uid-{owner}"), "controller": true,
    }]);
    p
}

async fn node_of(fx: &Fixture, name: &str) -> Option<String> {
    let pod = fx.pod("default", name).await?;
    pod_node(&pod).map(str::to_string)
}

fn scheduled_condition(pod: &Pod) -> (String, Option<String>, Option<String>) {
    let c = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .expect("a PodScheduled condition");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

async fn events_about(fx: &Fixture, pod: &str, reason: &str) -> Vec<Event> {
    let (events, _) = fx.store().list("Event", Some("default")).await.unwrap();
    events
        .iter()
        .map(|s| decode::<Event>(s).unwrap())
        .filter(|e| e.involved_object.name.as_deref() == Some(pod))
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

#[tokio::test]
async fn binds_by_node_selector_and_records_it() {
    let fx = Fixture::new();
    fx.register("n1").await;
    fx.register_with("n2", &[("disktype", "ssd")], "4", "8Gi")
        .await;
    fx.create_pod(with_selector("fast", "disktype", "ssd"))
        .await;
    fx.create_pod(pod("plain")).await;

    let scheduler = Scheduler::new(fx.ctx.clone());
    scheduler.pass().await.unwrap();
    assert_eq!(node_of(&fx, "fast").await.as_deref(), Some("n2"));
    assert_eq!(
        node_of(&fx, "plain").await.as_deref(),
        Some("n1"),
        "the emptier node"
    );

    let fast = fx.pod("default", "fast").await.unwrap();
    assert_eq!(scheduled_condition(&fast).0, "True");
    let events = events_about(&fx, "fast", "Scheduled").await;
    assert_eq!(
        events[0].message.as_deref(),
        Some("Successfully assigned default/fast to n2")
    );
    // A second pass changes nothing.
    let before = fx.store().current_revision().await.unwrap();
    scheduler.pass().await.unwrap();
    assert_eq!(fx.store().current_revision().await.unwrap(), before);
}

#[tokio::test]
async fn resource_requests_must_fit_what_is_left() {
    let fx = Fixture::new();
    fx.register_with("n1", &[("zone", "a")], "1", "1Gi").await;
    fx.register_with("n2", &[], "4", "8Gi").await;
    // 7Gi of n2 is taken; a finished pod's requests don't count.
    fx.create_pod(requesting(bound_pod("big", "n2"), "1", "7Gi"))
        .await;
    let mut done = requesting(bound_pod("done", "n1"), "1", "1Gi");
    done["status"]["phase"] = "Succeeded".into();
    fx.create_pod(done).await;

    fx.create_pod(requesting(pod("fits-n1"), "500m", "512Mi"))
        .await;
    fx.create_pod(requesting(pod("fits-nowhere"), "100m", "2Gi"))
        .await;
    fx.create_pod(requesting(
        with_selector("zone-a", "zone", "a"),
        "100m",
        "1Gi",
    ))
    .await;

    Scheduler::new(fx.ctx.clone()).pass().await.unwrap();
    assert_eq!(node_of(&fx, "fits-n1").await.as_deref(), Some("n1"));
    for (name, message) in [
        ("fits-nowhere", "0/2 nodes are available: 2 Insufficient memory."),
        (
            "zone-a",
            "0/2 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector.",
        ),
    ] {
        let pod = fx.pod("default", name).await.unwrap();
        assert_eq!(pod_node(&pod), None, "{name}");
        assert_eq!(pod.status.as_ref().unwrap().phase.as_deref(), Some("Pending"));
        let (status, reason, got) = scheduled_condition(&pod);
        assert_eq!((status.as_str(), reason.as_deref()), ("False", Some("Unschedulable")));
        assert_eq!(got.as_deref(), Some(message), "{name}");
        let events = events_about(&fx, name, "FailedScheduling").await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].type_.as_deref(), Some("Warning"));
        assert_eq!(events[0].message.as_deref(), Some(message));
    }
}

#[tokio::test]
async fn replicas_spread_before_nodes_fill_up() {
    let fx = Fixture::new();
    for n in ["n1", "n2", "n3"] {
        fx.register(n).await;
    }
    // n2 is busiest overall, but holds no replica of "web".
    for i in 0..3 {
        fx.create_pod(bound_pod(&format!("other-{i}"), "n2")).await;
    }
    fx.create_pod(owned_by(bound_pod("web-0", "n1"), "web"))
        .await;
    fx.create_pod(owned_by(bound_pod("web-1", "n3"), "web"))
        .await;
    fx.create_pod(owned_by(pod("web-2"), "web")).await;
    Scheduler::new(fx.ctx.clone()).pass().await.unwrap();
    assert_eq!(node_of(&fx, "web-2").await.as_deref(), Some("n2"));

    // With no group, fewest pods wins, then the name: n1 and n3 hold one each.
    fx.create_pod(pod("solo")).await;
    Scheduler::new(fx.ctx.clone()).pass().await.unwrap();
    assert_eq!(node_of(&fx, "solo").await.as_deref(), Some("n1"));

    // Three replicas in one pass land on three nodes.
    for i in 0..3 {
        fx.create_pod(owned_by(pod(&format!("api-{i}")), "api"))
            .await;
    }
    Scheduler::new(fx.ctx.clone()).pass().await.unwrap();
    let mut nodes: Vec<_> = Vec::new();
    for i in 0..3 {
        nodes.push(node_of(&fx, &format!("api-{i}")).await.unwrap());
    }
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
}

#[tokio::test]
async fn cordoned_and_not_ready_nodes_take_nothing() {
    let fx = Fixture::new();
    fx.register("n1").await;
    fx.register("n2").await;
    fx.edit(node_key("n1"), |v| v["spec"]["unschedulable"] = true.into())
        .await;
    fx.edit(node_key("n2"), |v| {
        v["status"]["conditions"][0]["status"] = "Unknown".into();
    })
    .await;
    fx.create_pod(pod("p")).await;
    Scheduler::new(fx.ctx.clone()).pass().await.unwrap();
    let pod = fx.pod("default", "p").await.unwrap();
    assert_eq!(
        scheduled_condition(&pod).2.as_deref(),
        Some(
            "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, \
             1 node(s) were unschedulable."
        )
    );
}

#[tokio::test]
async fn retries_update_one_event_instead_of_adding_more() {
    let fx = Fixture::new();
    fx.create_pod(pod("lonely")).await;
    // A wait long enough that the second pass surely falls inside it.
    let timing = Timing {
        unschedulable_retry: Duration::from_millis(500),
        ..fx.ctx.timing.clone()
    };
    let ctx = Arc::new(NodeContext {
        cp: fx.ctx.cp.clone(),
        clock: fx.ctx.clock.clone(),
        timing,
    });
    let scheduler = Scheduler::new(ctx.clone());
    scheduler.pass().await.unwrap();
    let revision = fx
        .store()
        .get(&pod_key("default", "lonely"))
        .await
        .unwrap()
        .unwrap()
        .revision;
    let pod = fx.pod("default", "lonely").await.unwrap();
    assert_eq!(
        scheduled_condition(&pod).2.as_deref(),
        Some("no nodes available to schedule pods")
    );
    // Within the wait nothing happens, even past the error backoff's longest delay (a
    // pod no node fits is not retried on a timer); after it, one more count on the same
    // event.
    tokio::time::sleep(ctx.timing.backoff_max + Duration::from_millis(50)).await;
    scheduler.pass().await.unwrap();
    assert_eq!(
        events_about(&fx, "lonely", "FailedScheduling").await[0].count,
        Some(1)
    );
    tokio::time::sleep(ctx.timing.unschedulable_retry * 2).await;
    scheduler.pass().await.unwrap();
    let events = events_about(&fx, "lonely", "FailedScheduling").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].count, Some(2));
    let after = fx
        .store()
        .get(&pod_key("default", "lonely"))
        .await
        .unwrap()
        .unwrap()
        .revision;
    assert_eq!(after, revision, "an unchanged condition is not rewritten");
}

#[tokio::test]
async fn a_label_change_schedules_the_waiting_pod() {
    let fx = Fixture::new();
    fx.register("n1").await;
    fx.register("n2").await;
    let tasks = spawn_background_with(fx.ctx.clone());

    // deploy/manifests' node-selector.yaml
    fx.create_pod(with_selector("node-selector", "disktype", "ssd"))
        .await;
    eventually("the pod to be marked unschedulable", || async {
        let pod = fx.pod("default", "node-selector").await.unwrap();
        pod.status.and_then(|s| s.conditions).is_some_and(|c| {
            c.iter()
                .any(|c| c.reason.as_deref() == Some("Unschedulable"))
        })
    })
    .await;
    let pod = fx.pod("default", "node-selector").await.unwrap();
    assert_eq!(
        scheduled_condition(&pod).2.as_deref(),
        Some("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")
    );
    assert_eq!(pod_node(&pod), None);

    // skiff label node n2 disktype=ssd
    fx.edit(node_key("n2"), |v| {
        v["metadata"]["labels"]["disktype"] = "ssd".into()
    })
    .await;
    eventually("the pod to be bound to n2", || async {
        node_of(&fx, "node-selector").await.as_deref() == Some("n2")
    })
    .await;
    let pod = fx.pod("default", "node-selector").await.unwrap();
    assert_eq!(scheduled_condition(&pod), ("True".into(), None, None));
    for task in tasks {
        task.abort();
    }
}
