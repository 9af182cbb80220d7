//! Every controller's delete goes through the finalizer-aware one: an object with a
//! user's finalizer is marked and kept, and a controller that sees it marked leaves it
//! (no second delete, no write storm).

use super::*;
use crate::resources::finalizers;

const KEEP: &str = "example.com/keep";

impl Harness {
    /// Adds the `KEEP` finalizer to the stored object, as a user's controller would.
    async fn hold(&self, kind: &str, name: &str) {
        let stored = self
            .store
            .get(&Key::new(kind, "default", name))
            .await
            .unwrap()
            .unwrap();
        let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
        value["metadata"]["finalizers"] = json!([KEEP]);
        self.write(stored, &value).await;
    }

    async fn release(&self, kind: &str, name: &str, uid: &str) {
        let key = Key::new(kind, "default", name);
        assert!(finalizers::remove(self.store.as_ref(), &key, uid, KEEP)
            .await
            .unwrap());
    }
}

#[tokio::test]
async fn a_scale_down_marks_a_held_pod_and_counts_it_no_more() {
    let h = Harness::new().await;
    h.apply(REPLICASET).await;
    h.settle().await;
    for pod in h.pods().await {
        h.hold("Pod", pod.metadata.name.as_deref().unwrap()).await;
    }
    h.apply(&REPLICASET.replace("replicas: 3", "replicas: 1"))
        .await;
    // Settling means a round wrote nothing: the marked pods are not deleted again.
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3, "the finalizer keeps the surplus pods");
    let marked: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .collect();
    assert_eq!(marked.len(), 2);
    let rs: ReplicaSet = h.get("ReplicaSet", "replicaset-nginx").await.unwrap();
    assert_eq!(rs.status.map(|s| s.replicas), Some(1));

    for pod in marked {
        let name = pod.metadata.name.as_deref().unwrap();
        h.release("Pod", name, pod.metadata.uid.as_deref().unwrap())
            .await;
    }
    h.settle().await;
    assert_eq!(h.pods().await.len(), 1);
}

#[tokio::test]
async fn a_background_deletion_keeps_a_held_replica_set_marked() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(2, "nginx:latest", "")).await;
    h.settle().await;
    let rs = h.replica_sets().await.remove(0);
    let rs_name = rs.metadata.name.clone().unwrap();
    h.hold("ReplicaSet", &rs_name).await;

    h.delete("Deployment", "my-nginx-deployment", "").await;
    h.settle().await;
    assert!(h
        .get::<Deployment>("Deployment", "my-nginx-deployment")
        .await
        .is_none());
    let sets = h.replica_sets().await;
    assert_eq!(sets.len(), 1, "the finalizer keeps the ReplicaSet");
    assert!(sets[0].metadata.deletion_timestamp.is_some());
    assert_eq!(
        sets[0].metadata.finalizers.as_deref(),
        Some(&[KEEP.to_string()][..])
    );
    // Its pods stay with it, and it makes no new ones.
    assert_eq!(h.pods().await.len(), 2);

    h.release("ReplicaSet", &rs_name, rs.metadata.uid.as_deref().unwrap())
        .await;
    h.settle().await;
    assert!(h.replica_sets().await.is_empty());
    assert!(h.pods().await.is_empty(), "the collector takes the pods");
}

#[tokio::test]
async fn the_collector_marks_a_held_dependent_of_a_gone_owner_once() {
    let h = Harness::new().await;
    h.apply(REPLICASET).await;
    h.settle().await;
    let pod = h.pods().await.remove(0);
    let name = pod.metadata.name.clone().unwrap();
    h.hold("Pod", &name).await;
    h.delete("ReplicaSet", "replicaset-nginx", "").await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 1, "only the held pod is left");
    assert!(pods[0].metadata.deletion_timestamp.is_some());
    let revision = h.revision().await;
    let key = Key::new("Pod", "default", &name);
    h.gc.reconcile(&key).await.unwrap();
    assert_eq!(
        h.revision().await,
        revision,
        "a marked dependent is not deleted again"
    );
    h.release("Pod", &name, pod.metadata.uid.as_deref().unwrap())
        .await;
    assert!(h.pods().await.is_empty());
}
