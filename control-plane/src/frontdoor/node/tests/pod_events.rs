//! RecordPodEvents below the gRPC layer: folding repeats, and a node speaking only for
//! its own pods.

use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use skiff_proto::v1::PodEvent;

use super::{bound_pod, Fixture};
use crate::core::objects::decode;
use crate::core::Error;
use crate::frontdoor::node::pod_events::record_pod_events;

fn event(pod: &str, container: &str, reason: &str, message: &str) -> PodEvent {
    PodEvent {
        namespace: "default".into(),
        pod_name: pod.into(),
        pod_uid: format!("uid-{pod}"),
        field_path: format!("spec.containers{{{container}}}"),
        r#type: if reason == "BackOff" {
            "Warning"
        } else {
            "Normal"
        }
        .into(),
        reason: reason.into(),
        message: message.into(),
        count: 1,
    }
}

async fn events(fx: &Fixture) -> Vec<Event> {
    let (items, _) = fx.store().list("Event", Some("default")).await.unwrap();
    let mut out: Vec<Event> = items.iter().map(|s| decode(s).unwrap()).collect();
    out.sort_by_key(|e| e.reason.clone());
    out
}

#[tokio::test]
async fn repeats_within_ten_minutes_bump_the_count_of_one_event() {
    let fx = Fixture::new();
    fx.create_pod(bound_pod("web", "n1")).await;
    let backoff = event(
        "web",
        "app",
        "BackOff",
        "Back-off restarting failed container app",
    );
    let started = event("web", "app", "Started", "Started container app");
    record_pod_events(&fx.ctx, "n1", &[started, backoff.clone()])
        .await
        .unwrap();
    fx.clock.advance(Duration::from_secs(60));
    let twice = skiff_proto::v1::PodEvent {
        count: 2,
        ..backoff.clone()
    };
    record_pod_events(&fx.ctx, "n1", &[twice]).await.unwrap();

    let stored = events(&fx).await;
    assert_eq!(stored.len(), 2);
    let back_off = &stored[0];
    assert_eq!(back_off.reason.as_deref(), Some("BackOff"));
    assert_eq!(back_off.type_.as_deref(), Some("Warning"));
    assert_eq!(back_off.count, Some(3));
    let (first, last) = (
        back_off.first_timestamp.clone().unwrap().0,
        back_off.last_timestamp.clone().unwrap().0,
    );
    assert_eq!(last.duration_since(first).as_secs(), 60);
    let involved = &back_off.involved_object;
    assert_eq!(involved.kind.as_deref(), Some("Pod"));
    assert_eq!(involved.uid.as_deref(), Some("uid-web"));
    assert_eq!(involved.field_path.as_deref(), Some("spec.containers{app}"));
    let source = back_off.source.clone().unwrap();
    assert_eq!(source.component.as_deref(), Some("kubelet"));
    assert_eq!(source.host.as_deref(), Some("n1"));
    assert_eq!(back_off.reporting_component.as_deref(), Some("kubelet"));
    assert_eq!(back_off.reporting_instance.as_deref(), Some("n1"));
    assert_eq!(stored[1].count, Some(1));

    // After a quiet spell longer than the window the count starts again.
    fx.clock.advance(Duration::from_secs(11 * 60));
    record_pod_events(&fx.ctx, "n1", &[backoff]).await.unwrap();
    let again = &events(&fx).await[0];
    assert_eq!(again.count, Some(1));
    assert_eq!(again.first_timestamp, again.last_timestamp);
}

#[tokio::test]
async fn a_node_cannot_report_events_about_another_nodes_pods() {
    let fx = Fixture::new();
    fx.create_pod(bound_pod("mine", "n1")).await;
    fx.create_pod(bound_pod("theirs", "n2")).await;
    let batch = [
        event("mine", "app", "Started", "Started container app"),
        event("theirs", "app", "Started", "Started container app"),
    ];
    let refused = record_pod_events(&fx.ctx, "n1", &batch).await.unwrap_err();
    assert!(matches!(refused, Error::PermissionDenied(_)), "{refused}");
    assert!(
        events(&fx).await.is_empty(),
        "nothing of a refused batch is kept"
    );

    // A pod that is gone or was replaced: its events are dropped, the rest recorded.
    let gone = event("deleted", "app", "Killing", "Stopping container app");
    let replaced = PodEvent {
        pod_uid: "uid-old".into(),
        ..event("mine", "app", "Killing", "Stopping container app")
    };
    let kept = event("mine", "app", "Started", "Started container app");
    let recorded = record_pod_events(&fx.ctx, "n1", &[gone, replaced, kept])
        .await
        .unwrap();
    assert_eq!(recorded, 1);
    assert_eq!(events(&fx).await.len(), 1);

    let bad = PodEvent {
        r#type: "Error".into(),
        ..event("mine", "app", "Started", "x")
    };
    let refused = record_pod_events(&fx.ctx, "n1", &[bad]).await.unwrap_err();
    assert!(matches!(refused, Error::Invalid(_)), "{refused}");
}
