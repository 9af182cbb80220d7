//! What an agent reports about its own Node for the pod network.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Event;
use skiff_proto::v1::NodeConditionReport;
use tonic::{Code, Status};

use super::Fixture;
use crate::core::objects::{decode, node_condition};
use crate::frontdoor::node::node_network::{record_node_event, update_node_status};

fn unavailable(status: &str, reason: &str) -> NodeConditionReport {
    NodeConditionReport {
        r#type: "NetworkUnavailable".into(),
        status: status.into(),
        reason: reason.into(),
        message: "peer n3 (10.9.0.3) is not on a directly connected network".into(),
    }
}

#[tokio::test]
async fn backend_annotations_and_conditions_land_on_the_node() {
    let fx = Fixture::new();
    fx.register("n1").await;
    let annotations = BTreeMap::from([
        (
            "flannel.alpha.coreos.com/backend-data".to_string(),
            r#"{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}"#.to_string(),
        ),
        (
            "flannel.alpha.coreos.com/backend-type".into(),
            "vxlan".into(),
        ),
    ]);
    let conditions = [unavailable("True", "NoRouteToPeer")];
    update_node_status(&fx.ctx, "n1", &annotations, &conditions)
        .await
        .unwrap();
    let node = fx.node("n1").await;
    let stored = node.metadata.annotations.clone().unwrap();
    assert_eq!(stored["flannel.alpha.coreos.com/backend-type"], "vxlan");
    let cond = node_condition(&node, "NetworkUnavailable").unwrap();
    assert_eq!(cond.status, "True");
    assert_eq!(cond.reason.as_deref(), Some("NoRouteToPeer"));
    assert_eq!(node_condition(&node, "Ready").unwrap().status, "True");

    // An empty value removes a key; the condition clears.
    let removal = BTreeMap::from([(
        "flannel.alpha.coreos.com/backend-type".to_string(),
        String::new(),
    )]);
    update_node_status(
        &fx.ctx,
        "n1",
        &removal,
        &[unavailable("False", "RouteCreated")],
    )
    .await
    .unwrap();
    let node = fx.node("n1").await;
    let stored = node.metadata.annotations.clone().unwrap();
    assert!(!stored.contains_key("flannel.alpha.coreos.com/backend-type"));
    assert!(stored.contains_key("flannel.alpha.coreos.com/backend-data"));
    assert_eq!(
        node_condition(&node, "NetworkUnavailable").unwrap().status,
        "False"
    );
}

#[tokio::test]
async fn ready_and_bad_statuses_are_not_the_nodes_to_set() {
    let fx = Fixture::new();
    fx.register("n1").await;
    let mut ready = unavailable("False", "x");
    ready.r#type = "Ready".into();
    for bad in [ready, unavailable("Maybe", "x")] {
        let err = update_node_status(&fx.ctx, "n1", &BTreeMap::new(), &[bad])
            .await
            .unwrap_err();
        assert_eq!(Status::from(err).code(), Code::InvalidArgument);
    }
    assert_eq!(
        node_condition(&fx.node("n1").await, "Ready")
            .unwrap()
            .status,
        "True"
    );
    let err = update_node_status(&fx.ctx, "ghost", &BTreeMap::new(), &[])
        .await
        .unwrap_err();
    assert_eq!(Status::from(err).code(), Code::NotFound);
}

#[tokio::test]
async fn node_events_are_recorded_and_counted() {
    let fx = Fixture::new();
    fx.register("n1").await;
    for _ in 0..2 {
        record_node_event(
            &fx.ctx,
            "n1",
            "Warning",
            "VxlanPortInUse",
            "udp 8472 is taken",
        )
        .await
        .unwrap();
    }
    let (events, _) = fx.store().list("Event", Some("default")).await.unwrap();
    let events: Vec<Event> = events.iter().map(|e| decode(e).unwrap()).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.involved_object.name.as_deref(), Some("n1"));
    assert_eq!(e.involved_object.kind.as_deref(), Some("Node"));
    assert_eq!(e.reason.as_deref(), Some("VxlanPortInUse"));
    assert_eq!(e.count, Some(2));
    let err = record_node_event(&fx.ctx, "n1", "Bad", "x", "y")
        .await
        .unwrap_err();
    assert_eq!(Status::from(err).code(), Code::InvalidArgument);
}
