//! Garbage collection: deleting an owner takes its dependents; Orphan keeps them, through
//! the `orphan` finalizer.

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
    // As Kubernetes: the owner is first only marked, held by the `orphan` finalizer.
    let marked: ReplicaSet = h.get("ReplicaSet", "replicaset-nginx").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(
        marked.metadata.finalizers.as_deref(),
        Some(&["orphan".to_string()][..])
    );
    // The collector strips the references, then the finalizer, and the owner goes.
    h.settle().await;
    assert!(h
        .get::<ReplicaSet>("ReplicaSet", "replicaset-nginx")
        .await
        .is_none());
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

#[tokio::test]
async fn foreground_keeps_the_deployment_until_its_replica_sets_and_pods_are_gone() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(2, "nginx:latest", "")).await;
    h.settle().await;
    h.delete("Deployment", "my-nginx-deployment", "Foreground")
        .await;
    let marked = h.deployment("my-nginx-deployment").await;
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(
        marked.metadata.finalizers.as_deref(),
        Some(&["foregroundDeletion".to_string()][..])
    );

    // The collector's first pass over the owner: its ReplicaSet is deleted in the
    // Foreground too (it owns pods), so both stay while the pods go.
    let owner = Key::new("Deployment", "default", "my-nginx-deployment");
    h.gc.reconcile(&owner).await.unwrap();
    let sets = h.replica_sets().await;
    assert_eq!(sets.len(), 1);
    assert!(sets[0].metadata.deletion_timestamp.is_some());
    assert!(h
        .get::<Deployment>("Deployment", "my-nginx-deployment")
        .await
        .is_some());

    // The ReplicaSet's pass deletes the pods; the owner is still held by its set.
    let set = Key::new(
        "ReplicaSet",
        "default",
        sets[0].metadata.name.as_deref().unwrap(),
    );
    h.gc.reconcile(&set).await.unwrap();
    assert!(h.pods().await.is_empty());
    assert!(h
        .get::<Deployment>("Deployment", "my-nginx-deployment")
        .await
        .is_some());

    h.settle().await;
    assert!(h.pods().await.is_empty());
    assert!(h.replica_sets().await.is_empty());
    assert!(h
        .get::<Deployment>("Deployment", "my-nginx-deployment")
        .await
        .is_none());
}

#[tokio::test]
async fn a_dependent_that_does_not_block_is_deleted_but_does_not_hold_its_owner() {
    let h = Harness::new().await;
    h.apply(REPLICASET).await;
    h.settle().await;
    let rs: ReplicaSet = h.get("ReplicaSet", "replicaset-nginx").await.unwrap();
    // A pod that names the set as a plain owner, without blockOwnerDeletion, and that a
    // finalizer keeps after its deletion.
    h.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: loose\n  namespace: default\n  finalizers: [example.com/hold]\n  ownerReferences:\n    - apiVersion: apps/v1\n      kind: ReplicaSet\n      name: replicaset-nginx\n      uid: {}\nspec:\n  containers:\n    - name: c\n      image: busybox\n",
        rs.metadata.uid.as_deref().unwrap()
    ))
    .await;
    h.delete("ReplicaSet", "replicaset-nginx", "Foreground")
        .await;
    let set = Key::new("ReplicaSet", "default", "replicaset-nginx");
    h.gc.reconcile(&set).await.unwrap();
    let pods = h.pods().await;
    assert_eq!(pods.len(), 1, "only the held pod is left");
    assert!(pods[0].metadata.deletion_timestamp.is_some());
    assert!(h
        .get::<ReplicaSet>("ReplicaSet", "replicaset-nginx")
        .await
        .is_none());
}
