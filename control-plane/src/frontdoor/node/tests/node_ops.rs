//! What users do to nodes (`skiff taint`, `skiff cordon`: edits of the Node) as the
//! controllers see it: a NoExecute taint evicts what does not tolerate it
//! (lifecycle/taints.rs), a NoSchedule taint and a cordon keep new pods off.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Taint};
use serde_json::{json, Value};

use super::{bound_pod, pod, Fixture};
use crate::controllers::nodes::{LifecycleController, Scheduler};
use crate::core::objects::{decode, pod_node};
use crate::core::{Clock, Kind};
use crate::frontdoor::node::heartbeat::heartbeat;
use crate::resources::edit;

fn user_taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: Some(value.into()),
        effect: effect.into(),
        ..Default::default()
    }
}

fn tolerating(mut pod: Value, effect: &str, seconds: Option<i64>) -> Value {
    let mut toleration = json!({"key": "dedicated", "operator": "Exists", "effect": effect});
    if let Some(s) = seconds {
        toleration["tolerationSeconds"] = s.into();
    }
    pod["spec"]["tolerations"] = json!([toleration]);
    pod
}

/// Edits the Node as the CLI does; whether anything changed.
async fn edit_node(fx: &Fixture, node: &str, change: impl Fn(&mut Value) -> bool) -> bool {
    let ranges = fx.ctx.cp.config.service_ranges();
    let key = Kind::of("Node").key("", node);
    let mut changed = false;
    edit(fx.store(), &fx.clock, &ranges, &key, None, |v, _| {
        changed = change(v);
        Ok(changed)
    })
    .await
    .unwrap();
    changed
}

/// `skiff taint`: a NoExecute taint says when it was added, as kubectl's.
async fn add_taint(fx: &Fixture, node: &str, mut t: Taint) {
    if t.effect == "NoExecute" {
        t.time_added = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            fx.clock.now_seconds(),
        ));
    }
    let t = serde_json::to_value(t).unwrap();
    edit_node(fx, node, |v| {
        v["spec"]["taints"] = json!([t.clone()]);
        true
    })
    .await;
}

async fn cordon(fx: &Fixture, node: &str) -> bool {
    edit_node(fx, node, |v| {
        let already = v["spec"]["unschedulable"] == json!(true);
        v["spec"]["unschedulable"] = json!(true);
        !already
    })
    .await
}

async fn exists(fx: &Fixture, name: &str) -> bool {
    fx.pod("default", name).await.is_some()
}

/// Moves the clock `secs` forward in 2 s steps, every node heartbeating: they stay Ready.
async fn advance(fx: &Fixture, secs: u64) {
    for _ in 0..secs / 2 {
        fx.clock.advance(Duration::from_secs(2));
        for node in ["n1", "n2"] {
            heartbeat(&fx.ctx, node).await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_no_execute_taint_evicts_the_pods_that_do_not_tolerate_it() {
    let fx = Fixture::new();
    fx.register("n1").await;
    fx.register("n2").await;
    fx.create_pod(bound_pod("bare", "n1")).await;
    fx.create_pod(tolerating(
        bound_pod("tolerant", "n1"),
        "NoExecute",
        Some(60),
    ))
    .await;
    fx.create_pod(tolerating(bound_pod("forever", "n1"), "NoExecute", None))
        .await;
    // Tolerating another effect is no toleration of NoExecute.
    fx.create_pod(tolerating(
        bound_pod("wrong-effect", "n1"),
        "NoSchedule",
        None,
    ))
    .await;
    let mut mirror = bound_pod("static-n1", "n1");
    mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "abc"});
    fx.create_pod(mirror).await;
    fx.create_pod(bound_pod("elsewhere", "n2")).await;
    let controller = LifecycleController::new(fx.ctx.clone());
    controller.pass().await.unwrap();
    assert!(exists(&fx, "bare").await, "no taint yet");

    add_taint(&fx, "n1", user_taint("dedicated", "db", "NoExecute")).await;
    let node = fx.node("n1").await;
    let added = node.spec.unwrap().taints.unwrap()[0].time_added.clone();
    assert!(added.is_some(), "a NoExecute taint gets timeAdded");
    controller.pass().await.unwrap();
    assert!(!exists(&fx, "bare").await, "evicted at once");
    assert!(!exists(&fx, "wrong-effect").await);
    for kept in ["tolerant", "forever", "static-n1", "elsewhere"] {
        assert!(exists(&fx, kept).await, "{kept} stays for now");
    }

    advance(&fx, 58).await;
    controller.pass().await.unwrap();
    assert!(exists(&fx, "tolerant").await, "58 s of its 60");
    advance(&fx, 2).await;
    controller.pass().await.unwrap();
    assert!(
        !exists(&fx, "tolerant").await,
        "its tolerationSeconds ran out"
    );
    for kept in ["forever", "static-n1", "elsewhere"] {
        assert!(exists(&fx, kept).await, "{kept} stays");
    }

    let (events, _) = fx.store().list("Event", Some("default")).await.unwrap();
    let events: Vec<Event> = events.iter().map(|s| decode(s).unwrap()).collect();
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("TaintManagerEviction")
                && e.message.as_deref() == Some("Marking for deletion Pod default/bare")),
        "{events:?}"
    );
}

#[tokio::test]
async fn no_schedule_taints_and_cordons_keep_new_pods_off() {
    let fx = Fixture::new();
    fx.register("n1").await;
    fx.register("n2").await;
    add_taint(&fx, "n1", user_taint("dedicated", "db", "NoSchedule")).await;
    fx.create_pod(pod("plain")).await;
    fx.create_pod(tolerating(pod("welcome"), "NoSchedule", None))
        .await;
    Scheduler::new(fx.ctx.clone()).pass().await.unwrap();
    let plain = fx.pod("default", "plain").await.unwrap();
    assert_eq!(pod_node(&plain), Some("n2"));

    assert!(cordon(&fx, "n2").await);
    assert!(!cordon(&fx, "n2").await, "already cordoned");
    fx.create_pod(pod("late")).await;
    Scheduler::new(fx.ctx.clone()).pass().await.unwrap();
    let late = fx.pod("default", "late").await.unwrap();
    assert_eq!(pod_node(&late), None);
    let message = late.status.unwrap().conditions.unwrap()[0].message.clone();
    assert_eq!(
        message.as_deref(),
        Some(
            "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, \
             1 node(s) were unschedulable."
        )
    );
    let welcome = fx.pod("default", "welcome").await.unwrap();
    assert!(pod_node(&welcome).is_some());
}
