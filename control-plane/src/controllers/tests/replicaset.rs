//! The ReplicaSet controller: pods for `replicas`, replacement, adoption and release,
//! scale-down order, status.

use super::*;
use crate::core::Ranges;

#[tokio::test]
async fn creates_the_users_three_pods_named_after_it_and_replaces_a_deleted_one() {
    let h = Harness::new().await;
    h.apply(REPLICASET).await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        let name = pod.metadata.name.as_deref().unwrap();
        let suffix = name.strip_prefix("replicaset-nginx-").expect(name);
        assert_eq!(suffix.len(), 5, "{name}");
        assert_eq!(
            owner_name(&pod.metadata).as_deref(),
            Some("replicaset-nginx")
        );
        assert_eq!(
            pod.metadata.labels.as_ref().unwrap()["app"],
            "my-nginx-pods-label"
        );
        assert_eq!(crate::core::objects::phase(pod), "Pending");
    }
    let victim = pods[0].metadata.name.clone().unwrap();
    h.delete("Pod", &victim, "").await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|p| p.metadata.name.as_deref() != Some(victim.as_str())));
}

#[tokio::test]
async fn status_counts_ready_available_and_labelled_pods() {
    let h = Harness::new().await;
    h.apply(&REPLICASET.replace("replicas: 3", "replicas: 3\n  minReadySeconds: 10"))
        .await;
    h.settle().await;
    let first = h.pods().await[0].metadata.name.clone().unwrap();
    h.kubelet(|p| p.metadata.name.as_deref() == Some(first.as_str()))
        .await;
    h.settle().await;
    let rs: ReplicaSet = h.get("ReplicaSet", "replicaset-nginx").await.unwrap();
    let status = rs.status.unwrap();
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (3, Some(1), Some(0))
    );
    assert_eq!(status.fully_labeled_replicas, Some(3));
    assert_eq!(status.observed_generation, Some(1));
    // minReadySeconds later the ready pod is available, and the reconcile asked for it.
    let action =
        h.rs.reconcile(&Key::new("ReplicaSet", "default", "replicaset-nginx"))
            .await
            .unwrap();
    assert!(
        matches!(action, super::super::Action::Requeue(d) if d <= Duration::from_secs(11)),
        "{action:?}"
    );
    h.clock.advance(Duration::from_secs(10));
    h.settle().await;
    let rs: ReplicaSet = h.get("ReplicaSet", "replicaset-nginx").await.unwrap();
    assert_eq!(rs.status.unwrap().available_replicas, Some(1));
}

#[tokio::test]
async fn failed_pods_are_replaced() {
    let h = Harness::new().await;
    h.apply(REPLICASET).await;
    h.settle().await;
    let stored = h
        .store
        .list("Pod", Some("default"))
        .await
        .unwrap()
        .0
        .remove(0);
    let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
    value["status"] = json!({"phase": "Failed", "reason": "Evicted"});
    h.write(stored, &value).await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(
        pods.len(),
        4,
        "the failed pod stays (as in Kubernetes) and is replaced"
    );
    assert_eq!(
        pods.iter()
            .filter(|p| crate::core::objects::is_active(p))
            .count(),
        3
    );
}

#[tokio::test]
async fn orphans_that_match_are_adopted_and_pods_that_stop_matching_released() {
    let h = Harness::new().await;
    h.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: stray\n  labels: {app: my-nginx-pods-label}\nspec:\n  containers: [{name: c, image: nginx:latest}]\n",
    )
    .await;
    h.apply(REPLICASET).await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3, "the stray pod counts as one of the three");
    let stray = pods
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("stray"))
        .unwrap();
    assert_eq!(
        owner_name(&stray.metadata).as_deref(),
        Some("replicaset-nginx")
    );

    // Relabelled: released, and replaced.
    let key = crate::core::Kind::of("Pod").key("default", "stray");
    crate::resources::edit(
        h.store.as_ref(),
        &SystemClock,
        &Ranges::default(),
        &key,
        None,
        |v, _| {
            v["metadata"]["labels"]["app"] = "other".into();
            Ok(true)
        },
    )
    .await
    .unwrap();
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 4);
    let stray = pods
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("stray"))
        .unwrap();
    assert_eq!(owner_name(&stray.metadata), None);
}

#[tokio::test]
async fn match_expressions_select_pods() {
    let h = Harness::new().await;
    let manifest = REPLICASET.replace(
        "    matchLabels:\n      app: my-nginx-pods-label\n",
        "    matchExpressions:\n      - {key: app, operator: In, values: [my-nginx-pods-label, other]}\n",
    );
    h.apply(&manifest).await;
    h.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: other\n  labels: {app: other}\nspec:\n  containers: [{name: c, image: nginx:latest}]\n",
    )
    .await;
    h.settle().await;
    let pods = h.pods().await;
    assert_eq!(
        pods.len(),
        3,
        "{:?}",
        pods.iter().map(|p| &p.metadata.name).collect::<Vec<_>>()
    );
    assert!(pods
        .iter()
        .all(|p| owner_name(&p.metadata).as_deref() == Some("replicaset-nginx")));
}

#[tokio::test]
async fn scale_down_removes_unscheduled_then_not_ready_then_the_newest_ready() {
    let h = Harness::new().await;
    h.apply(&REPLICASET.replace("replicas: 3", "replicas: 5"))
        .await;
    h.settle().await;
    let names: Vec<String> = h
        .pods()
        .await
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    // Two ready (one an hour before the other), two not ready, one never scheduled.
    let (old_ready, new_ready, not_ready) = (
        names[0].clone(),
        names[1].clone(),
        [names[2].clone(), names[3].clone()],
    );
    let unscheduled = names[4].clone();
    h.kubelet(|p| p.metadata.name.as_deref() == Some(old_ready.as_str()))
        .await;
    h.clock.advance(Duration::from_secs(3600));
    h.kubelet(|p| [&old_ready, &new_ready].contains(&p.metadata.name.as_ref().unwrap()))
        .await;
    let stored = h
        .store
        .get(&Key::new("Pod", "default", &unscheduled))
        .await
        .unwrap()
        .unwrap();
    let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
    value["spec"].as_object_mut().unwrap().remove("nodeName");
    value["status"] = json!({"phase": "Pending"});
    h.write(stored, &value).await;

    let scale = |n: i32| REPLICASET.replace("replicas: 3", &format!("replicas: {n}"));
    let left = |pods: Vec<Pod>| {
        pods.into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    h.apply(&scale(4)).await;
    h.rs.reconcile(&Key::new("ReplicaSet", "default", "replicaset-nginx"))
        .await
        .unwrap();
    assert!(!left(h.pods().await).contains(&unscheduled));
    h.apply(&scale(2)).await;
    h.rs.reconcile(&Key::new("ReplicaSet", "default", "replicaset-nginx"))
        .await
        .unwrap();
    let now = left(h.pods().await);
    assert!(not_ready.iter().all(|n| !now.contains(n)), "{now:?}");
    h.apply(&scale(1)).await;
    h.rs.reconcile(&Key::new("ReplicaSet", "default", "replicaset-nginx"))
        .await
        .unwrap();
    assert_eq!(
        left(h.pods().await),
        vec![old_ready],
        "the longest-ready pod stays"
    );
}
