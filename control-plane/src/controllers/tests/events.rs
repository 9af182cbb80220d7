//! The controllers' events, as `describe deploy` and `describe rs` show them.

use k8s_openapi::api::core::v1::Event;

use super::*;

/// (reason, message) of the events about `kind/name`, sorted.
async fn events_about(h: &Harness, kind: &str, name: &str) -> Vec<(String, String)> {
    let (items, _) = h.store.list("Event", Some("default")).await.unwrap();
    let mut out: Vec<(String, String)> = items
        .iter()
        .map(|s| decode::<Event>(s).unwrap())
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some(kind)
                && e.involved_object.name.as_deref() == Some(name)
        })
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_replica_set_says_which_pods_it_created_and_deleted() {
    let h = Harness::new().await;
    h.apply(REPLICASET).await;
    h.settle().await;
    let pods = h.pods().await;
    let created: Vec<(String, String)> = events_about(&h, "ReplicaSet", "replicaset-nginx")
        .await
        .into_iter()
        .filter(|(reason, _)| reason == "SuccessfulCreate")
        .collect();
    let mut want: Vec<(String, String)> = pods
        .iter()
        .map(|p| {
            let name = p.metadata.name.clone().unwrap();
            ("SuccessfulCreate".into(), format!("Created pod: {name}"))
        })
        .collect();
    want.sort();
    assert_eq!(created, want);

    h.apply(&REPLICASET.replace("replicas: 3", "replicas: 2"))
        .await;
    h.settle().await;
    let left: Vec<String> = h
        .pods()
        .await
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    let gone: Vec<String> = pods
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .filter(|n| !left.contains(n))
        .collect();
    assert_eq!(gone.len(), 1);
    let deleted: Vec<(String, String)> = events_about(&h, "ReplicaSet", "replicaset-nginx")
        .await
        .into_iter()
        .filter(|(reason, _)| reason == "SuccessfulDelete")
        .collect();
    assert_eq!(
        deleted,
        [(
            "SuccessfulDelete".into(),
            format!("Deleted pod: {}", gone[0])
        )]
    );
}

#[tokio::test]
async fn a_rolling_update_records_each_scaling_of_a_replica_set() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(2, "nginx:latest", "")).await;
    h.settle().await;
    h.kubelet(|_| true).await;
    h.settle().await;
    let first = h.replica_sets().await[0].metadata.name.clone().unwrap();
    h.apply(&deployment_yaml(2, "nginx:1.11", "")).await;
    for _ in 0..20 {
        h.settle().await;
        h.kubelet(|_| true).await;
    }
    h.settle().await;
    let second = h
        .replica_sets()
        .await
        .into_iter()
        .filter_map(|rs| rs.metadata.name)
        .find(|n| *n != first)
        .unwrap();
    let messages: Vec<String> = events_about(&h, "Deployment", "my-nginx-deployment")
        .await
        .into_iter()
        .map(|(reason, message)| {
            assert_eq!(reason, "ScalingReplicaSet");
            message
        })
        .collect();
    for want in [
        format!("Scaled up replica set {first} to 2"),
        format!("Scaled up replica set {second} to 1"),
        format!("Scaled up replica set {second} to 2"),
        format!("Scaled down replica set {first} to 0 from 1"),
    ] {
        assert!(messages.contains(&want), "{want:?} not in {messages:#?}");
    }
}
