//! Garbage collection: deleting an owner takes its dependents; Orphan keeps them.

use super::*;

#[tokio::test]
async fn deleting_a_deployment_takes_its_replica_sets_and_their_pods() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(3, "nginx:latest", "")).await;
    h.settle().await;
    assert_eq!(h.pods().await.len(), 3);
    h.delete("Deployment", "my-nginx-deployment", "").await;
    h.settle().await;
    assert!(h.replica_sets().await.is_empty());
    assert!(h.pods().await.is_empty());
}

#[tokio::test]
async fn orphan_keeps_the_dependents_and_drops_their_owner_reference() {
    let h = Harness::new().await;
    h.apply(REPLICASET).await;
    h.settle().await;
    h.delete("ReplicaSet", "replicaset-nginx", "Orphan").await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| p.metadata.owner_references.is_none()));

    // A new ReplicaSet with the same selector adopts them instead of making more.
    h.apply(REPLICASET).await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| owner_name(&p.metadata).is_some()));
}

#[tokio::test]
async fn orphaning_a_deployment_keeps_its_replica_set_running() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(2, "nginx:latest", "")).await;
    h.settle().await;
    h.delete("Deployment", "my-nginx-deployment", "Orphan")
        .await;
    h.settle().await;
    let sets = h.replica_sets().await;
    assert_eq!(sets.len(), 1);
    assert!(sets[0].metadata.owner_references.is_none());
    assert_eq!(h.pods().await.len(), 2);
}

#[tokio::test]
async fn a_pod_whose_owner_is_gone_is_collected_when_created() {
    let h = Harness::new().await;
    h.apply(REPLICASET).await;
    h.settle().await;
    // The owner vanishes without the collector seeing it (a crash, say): the pods still
    // name it, and the collector's resync removes them.
    let rs = Key::new("ReplicaSet", "default", "replicaset-nginx");
    h.store.delete(&rs, None).await.unwrap();
    for key in h.keys("Pod").await {
        h.gc.reconcile(&key).await.unwrap();
    }
    assert!(h.pods().await.is_empty());
}
