//! Scale, and what the CLI's set image, rollout undo and pause write, together with the
//! controllers: scenario 3 of the user's notes, in memory.

use super::*;
use crate::core::objects::revisions::revision;
use crate::core::Error;
use crate::core::Ranges;
use crate::resources::{self};

const NAME: &str = "my-nginx-deployment";

fn image_of(pod: &Pod) -> String {
    pod.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

/// The user's deployment, rolled out and ready.
async fn deployed() -> Harness {
    let h = Harness::new().await;
    h.apply(&deployment_yaml(3, "nginx:latest", "")).await;
    h.settle().await;
    h.kubelet(|_| true).await;
    h.settle().await;
    h
}

#[tokio::test]
async fn scale_sets_replicas_refuses_negatives_and_stale_versions() {
    let h = deployed().await;
    let store = h.store.as_ref();
    let err = resources::scale(
        store,
        &SystemClock,
        &Ranges::default(),
        "Deployment",
        "default",
        NAME,
        -1,
        "",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("-1") && m.contains("greater than or equal to 0")),
        "{err:?}"
    );
    let err = resources::scale(
        store,
        &SystemClock,
        &Ranges::default(),
        "Pod",
        "default",
        "x",
        1,
        "",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)));
    let err = resources::scale(
        store,
        &SystemClock,
        &Ranges::default(),
        "Deployment",
        "default",
        NAME,
        2,
        "1",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");

    let scaled = resources::scale(
        store,
        &SystemClock,
        &Ranges::default(),
        "deployment",
        "default",
        NAME,
        5,
        "",
    )
    .await
    .unwrap();
    let value: Value = serde_json::from_slice(&scaled.json).unwrap();
    assert_eq!(value["spec"]["replicas"], 5);
    assert_eq!(value["metadata"]["generation"], 2);
    h.settle().await;
    assert_eq!(h.pods().await.len(), 5);
    assert_eq!(
        h.replica_sets().await.len(),
        1,
        "a scale is not a new revision"
    );
    let d = h.deployment(NAME).await;
    assert_eq!(d.status.unwrap().observed_generation, Some(2));
}

#[tokio::test]
async fn a_selector_that_does_not_match_the_template_is_refused() {
    let h = Harness::new().await;
    let bad = deployment_yaml(3, "nginx:latest", "").replace(
        "      app: my-nginx\n  template",
        "      app: other\n  template",
    );
    let err = crate::resources::apply(h.store.as_ref(), &SystemClock, "d.yaml", &bad, "")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`selector` does not match template `labels`"),
        "{err}"
    );
}

/// What `skiff set image` and `rollout pause` write (the CLI edits the object): the
/// Deployment changed through the write pipeline.
async fn edit_deployment(h: &Harness, change: impl Fn(&mut serde_json::Value)) {
    let key = crate::core::Kind::of("Deployment").key("default", NAME);
    resources::edit(
        h.store.as_ref(),
        &SystemClock,
        &Ranges::default(),
        &key,
        None,
        |v, _| {
            change(v);
            Ok(true)
        },
    )
    .await
    .unwrap();
}

async fn set_image(h: &Harness, image: &str) {
    edit_deployment(h, |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image.into();
    })
    .await;
}

fn revisions(sets: &[ReplicaSet]) -> Vec<i64> {
    let mut revisions: Vec<i64> = sets.iter().map(|rs| revision(&rs.metadata)).collect();
    revisions.sort();
    revisions
}

#[tokio::test]
async fn scenario_3_bad_image_then_undo_to_revision_1() {
    let h = deployed().await;
    set_image(&h, "nginx:1.11").await;
    // The new pods crash-loop: never ready.
    for _ in 0..5 {
        h.settle().await;
        h.kubelet(|p| image_of(p) == "nginx:latest").await;
    }
    let pods = h.pods().await;
    assert_eq!(pods.len(), 4, "replicas 3 + surge 1");
    assert_eq!(ready_count(&pods), 3, "the old pods keep serving");
    assert_eq!(revisions(&h.replica_sets().await), [1, 2]);

    // `rollout undo --to-revision=1` (client-side, as kubectl): revision 1's template,
    // without its pod-template-hash label, put back into the Deployment.
    let sets = h.replica_sets().await;
    let first = sets.iter().find(|rs| revision(&rs.metadata) == 1).unwrap();
    let mut template = serde_json::to_value(&first.spec.as_ref().unwrap().template).unwrap();
    template["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("pod-template-hash");
    edit_deployment(&h, |d| d["spec"]["template"] = template.clone()).await;
    for _ in 0..5 {
        h.settle().await;
        h.kubelet(|p| image_of(p) == "nginx:latest").await;
    }
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| image_of(p) == "nginx:latest"));
    assert_eq!(ready_count(&pods), 3);
    let sets = h.replica_sets().await;
    let bad = sets.iter().find(|rs| revision(&rs.metadata) == 2).unwrap();
    assert_eq!(bad.spec.as_ref().unwrap().replicas, Some(0));
    // Revision 1 came back as revision 3, as in Kubernetes.
    let d = h.deployment(NAME).await;
    assert_eq!(revision(&d.metadata), 3);
    assert_eq!(revisions(&sets), [2, 3]);
}

#[tokio::test]
async fn a_paused_deployment_rolls_out_once_resumed() {
    let h = deployed().await;
    edit_deployment(&h, |d| d["spec"]["paused"] = true.into()).await;
    set_image(&h, "httpd").await;
    h.settle().await;
    assert_eq!(h.replica_sets().await.len(), 1, "paused: no rollout");
    edit_deployment(&h, |d| {
        d["spec"].as_object_mut().unwrap().remove("paused");
    })
    .await;
    h.settle().await;
    assert_eq!(h.replica_sets().await.len(), 2);
}
