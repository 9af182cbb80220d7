//! The workload methods of the Api (scale, set image, rollout history/undo/pause)
//! together with the controllers: scenario 3 of the user's notes, in memory.

use std::collections::HashMap;

use super::*;
use crate::core::objects::revisions::revision;
use crate::core::Error;
use crate::core::Ranges;
use crate::resources::{self};

const NAME: &str = "my-nginx-deployment";

fn images(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(c, i)| (c.to_string(), i.to_string()))
        .collect()
}

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

#[tokio::test]
async fn set_image_names_an_unknown_container() {
    let h = deployed().await;
    let err = resources::set_image(
        h.store.as_ref(),
        &SystemClock,
        &Ranges::default(),
        "Deployment",
        "default",
        NAME,
        &images(&[("web", "x:1")]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("\"web\"")),
        "{err:?}"
    );
    assert_eq!(h.replica_sets().await.len(), 1);
}

#[tokio::test]
async fn scenario_3_bad_image_history_and_undo_to_revision_1() {
    let h = deployed().await;
    let store = h.store.as_ref();
    resources::set_image(
        store,
        &SystemClock,
        &Ranges::default(),
        "deployment",
        "default",
        NAME,
        &images(&[("nginx", "nginx:1.11")]),
    )
    .await
    .unwrap();
    // The new pods crash-loop: never ready.
    for _ in 0..5 {
        h.settle().await;
        h.kubelet(|p| image_of(p) == "nginx:latest").await;
    }
    let pods = h.pods().await;
    assert_eq!(pods.len(), 4, "replicas 3 + surge 1");
    assert_eq!(ready_count(&pods), 3, "the old pods keep serving");

    let history = resources::history(store, "default", NAME, 0).await.unwrap();
    assert_eq!(
        history.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let err = resources::undo(store, &SystemClock, &Ranges::default(), "default", NAME, 7)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("7") && m.contains("1, 2")),
        "{err:?}"
    );

    let undone = resources::undo(store, &SystemClock, &Ranges::default(), "default", NAME, 1)
        .await
        .unwrap();
    assert!(!undone.skipped);
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
    let history = resources::history(store, "default", NAME, 0).await.unwrap();
    assert_eq!(
        history.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![2, 3]
    );

    // Undoing to the template it already has changes nothing.
    let again = resources::undo(store, &SystemClock, &Ranges::default(), "default", NAME, 3)
        .await
        .unwrap();
    assert!(again.skipped);
}

#[tokio::test]
async fn pause_and_resume_and_no_undo_while_paused() {
    let h = deployed().await;
    let store = h.store.as_ref();
    pause(store, true).await.unwrap();
    let err = pause(store, true).await.unwrap_err();
    assert!(err.to_string().contains("already paused"), "{err}");
    resources::set_image(
        store,
        &SystemClock,
        &Ranges::default(),
        "Deployment",
        "default",
        NAME,
        &images(&[("*", "httpd")]),
    )
    .await
    .unwrap();
    h.settle().await;
    assert_eq!(h.replica_sets().await.len(), 1, "paused: no rollout");
    let err = resources::undo(store, &SystemClock, &Ranges::default(), "default", NAME, 0)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    pause(store, false).await.unwrap();
    h.settle().await;
    assert_eq!(h.replica_sets().await.len(), 2);
}

/// `rollout pause`/`resume` of the test's Deployment.
async fn pause(store: &dyn Store, paused: bool) -> Result<crate::resources::Object, Error> {
    resources::pause(
        store,
        &SystemClock,
        &Ranges::default(),
        "default",
        NAME,
        paused,
    )
    .await
}
