//! The Deployment controller: ReplicaSets per template, rolling update bounds, Recreate,
//! pause, revisions and history limit, conditions and the progress deadline.

use k8s_openapi::api::apps::v1::DeploymentCondition;

use super::*;
use crate::controllers::deployment::condition;
use crate::core::objects::revisions::revision;
use crate::core::objects::template_hash::TEMPLATE_HASH_LABEL;

const NAME: &str = "my-nginx-deployment";

fn image_of(pod: &Pod) -> String {
    pod.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

fn cond(d: &Deployment, type_: &str) -> DeploymentCondition {
    condition(d.status.as_ref().unwrap(), type_)
        .cloned()
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().unwrap().replicas.unwrap()
}

#[tokio::test]
async fn the_first_replica_set_is_revision_1_named_by_the_template_hash() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(3, "nginx:latest", "")).await;
    h.settle().await;
    let sets = h.replica_sets().await;
    assert_eq!(sets.len(), 1);
    let rs = &sets[0];
    let hash = rs.metadata.labels.as_ref().unwrap()[TEMPLATE_HASH_LABEL].clone();
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("{NAME}-{hash}").as_str())
    );
    assert_eq!(revision(&rs.metadata), 1);
    assert_eq!(
        rs.spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .as_ref()
            .unwrap()[TEMPLATE_HASH_LABEL],
        hash
    );
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|p| p.metadata.labels.as_ref().unwrap()[TEMPLATE_HASH_LABEL] == hash));

    h.kubelet(|_| true).await;
    h.settle().await;
    let d = h.deployment(NAME).await;
    assert_eq!(revision(&d.metadata), 1);
    let status = d.status.clone().unwrap();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3))
    );
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(cond(&d, "Available").status, "True");
    assert_eq!(
        cond(&d, "Progressing").reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );
}

/// Rolls the Deployment to `image` with `ready` deciding which new pods become ready,
/// checking the bounds after every step; returns the largest total seen.
async fn roll(
    h: &Harness,
    desired: i32,
    image: &str,
    max_total: usize,
    min_ready: usize,
    ready: impl Fn(&Pod) -> bool,
) -> usize {
    h.apply(&deployment_yaml(desired, image, "")).await;
    let mut largest = 0;
    for _ in 0..200 {
        let before = h.revision().await;
        h.round().await;
        let pods = h.pods().await;
        largest = largest.max(pods.len());
        assert!(pods.len() <= max_total, "{} pods > {max_total}", pods.len());
        assert!(
            ready_count(&pods) >= min_ready,
            "{} ready < {min_ready}",
            ready_count(&pods)
        );
        // One new pod at a time becomes ready.
        let next = pods
            .iter()
            .find(|p| image_of(p) == image && !crate::core::objects::is_ready(p) && ready(p))
            .cloned();
        match next {
            Some(pod) => {
                let name = pod.metadata.name.clone();
                h.kubelet(|p| {
                    (p.metadata.name == name && ready(p)) || crate::core::objects::is_ready(p)
                })
                .await;
            }
            None => h.kubelet(crate::core::objects::is_ready).await,
        }
        if h.revision().await == before {
            break;
        }
    }
    largest
}

#[tokio::test]
async fn a_rolling_update_of_10_stays_within_25_percent_and_completes() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(10, "nginx:latest", "")).await;
    h.settle().await;
    h.kubelet(|_| true).await;
    h.settle().await;
    // 25% of 10: surge 3 (rounded up), unavailable 2 (rounded down).
    let largest = roll(&h, 10, "httpd", 13, 8, |_| true).await;
    assert!(largest > 10, "the rollout surged");
    let pods = h.pods().await;
    assert_eq!(pods.len(), 10);
    assert!(pods.iter().all(|p| image_of(p) == "httpd"));
    let d = h.deployment(NAME).await;
    assert_eq!(revision(&d.metadata), 2);
    assert_eq!(
        cond(&d, "Progressing").reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );
    let sets = h.replica_sets().await;
    assert_eq!(sets.len(), 2, "the old one is kept for history");
    let old = sets.iter().find(|rs| revision(&rs.metadata) == 1).unwrap();
    assert_eq!(rs_replicas(old), 0);
}

#[tokio::test]
async fn a_crash_looping_image_keeps_the_old_pods_serving() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(3, "nginx:latest", "")).await;
    h.settle().await;
    h.kubelet(|_| true).await;
    h.settle().await;
    // Replicas 3 with 25%/25%: at most 4 pods, at least 3 ready.
    roll(&h, 3, "nginx:1.11", 4, 3, |_| false).await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 4);
    assert_eq!(
        pods.iter().filter(|p| image_of(p) == "nginx:1.11").count(),
        1
    );
    let d = h.deployment(NAME).await;
    assert_eq!(revision(&d.metadata), 2);
    assert_eq!(cond(&d, "Available").status, "True");
    assert_eq!(cond(&d, "Progressing").status, "True");

    // Past the progress deadline (600 s by default) it says so.
    h.clock.advance(Duration::from_secs(601));
    h.deployments
        .reconcile(&Key::new("Deployment", "default", NAME))
        .await
        .unwrap();
    let d = h.deployment(NAME).await;
    let progressing = cond(&d, "Progressing");
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
}

#[tokio::test]
async fn recreate_removes_every_old_pod_before_the_first_new_one() {
    let h = Harness::new().await;
    let strategy = "  strategy:\n    type: Recreate\n";
    h.apply(&deployment_yaml(3, "nginx:latest", strategy)).await;
    h.settle().await;
    h.kubelet(|_| true).await;
    h.settle().await;
    h.apply(&deployment_yaml(3, "httpd", strategy)).await;
    for _ in 0..20 {
        h.round().await;
        let pods = h.pods().await;
        let images: std::collections::BTreeSet<String> = pods.iter().map(image_of).collect();
        assert!(images.len() <= 1, "old and new pods at once: {images:?}");
    }
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| image_of(p) == "httpd"));
}

#[tokio::test]
async fn a_paused_deployment_does_not_roll_until_resumed_but_still_scales() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(2, "nginx:latest", "  paused: true\n"))
        .await;
    h.settle().await;
    assert!(
        h.replica_sets().await.is_empty(),
        "paused from the start: nothing rolls out"
    );
    h.apply(&deployment_yaml(2, "nginx:latest", "")).await;
    h.settle().await;
    assert_eq!(h.pods().await.len(), 2);

    h.apply(&deployment_yaml(3, "httpd", "  paused: true\n"))
        .await;
    h.settle().await;
    let d = h.deployment(NAME).await;
    assert_eq!(
        cond(&d, "Progressing").reason.as_deref(),
        Some("DeploymentPaused")
    );
    assert_eq!(h.replica_sets().await.len(), 1);
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3, "a scale still applies while paused");
    assert!(pods.iter().all(|p| image_of(p) == "nginx:latest"));

    h.apply(&deployment_yaml(3, "httpd", "")).await;
    h.settle().await;
    assert_eq!(h.replica_sets().await.len(), 2);
}

#[tokio::test]
async fn old_replica_sets_beyond_the_history_limit_are_deleted() {
    let h = Harness::new().await;
    let limit = "  revisionHistoryLimit: 1\n";
    for image in ["a:1", "a:2", "a:3"] {
        h.apply(&deployment_yaml(1, image, limit)).await;
        for _ in 0..10 {
            h.settle().await;
            h.kubelet(|_| true).await;
        }
        h.settle().await;
    }
    let mut revisions: Vec<i64> = h
        .replica_sets()
        .await
        .iter()
        .map(|rs| revision(&rs.metadata))
        .collect();
    revisions.sort();
    assert_eq!(revisions, vec![2, 3]);
}

#[tokio::test]
async fn min_ready_seconds_reaches_the_replica_set_and_delays_availability() {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(
        1,
        "nginx:latest",
        "  minReadySeconds: 5\n",
    ))
    .await;
    h.settle().await;
    h.kubelet(|_| true).await;
    h.settle().await;
    let rs = &h.replica_sets().await[0];
    assert_eq!(rs.spec.as_ref().unwrap().min_ready_seconds, Some(5));
    let d = h.deployment(NAME).await;
    assert_eq!(d.status.as_ref().unwrap().available_replicas, Some(0));
    h.clock.advance(Duration::from_secs(5));
    h.settle().await;
    let d = h.deployment(NAME).await;
    assert_eq!(d.status.as_ref().unwrap().available_replicas, Some(1));
}
