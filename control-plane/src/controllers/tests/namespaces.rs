//! The namespace controller: a deleted namespace's content goes through the
//! finalizer-aware delete, the namespace stays `Terminating` with Kubernetes' conditions
//! while a finalizer holds some of it, and goes once nothing is left.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, NamespaceCondition};

use super::*;
use crate::controllers::runtime::Action;
use crate::controllers::NamespaceController;
use crate::core::Error;
use crate::resources::finalizers;

const TEAM: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: held
  namespace: team-a
  finalizers: [example.com/keep]
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
  namespace: team-a
data: {k: v}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team-a
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
";

fn controller(h: &Harness) -> NamespaceController {
    NamespaceController::new(Arc::new(ControllerContext {
        store: h.store.clone(),
        clock: Arc::new(h.clock.clone()),
    }))
}

fn ns_key() -> Key {
    Key::new("Namespace", "", "team-a")
}

async fn namespace(h: &Harness) -> Option<Namespace> {
    let stored = h.store.get(&ns_key()).await.unwrap()?;
    Some(decode(&stored).unwrap())
}

fn condition<'a>(ns: &'a Namespace, type_: &str) -> &'a NamespaceCondition {
    ns.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_))
        .unwrap_or_else(|| panic!("no {type_} condition: {:?}", ns.status))
}

async fn in_team(h: &Harness, kind: &str) -> Vec<crate::store::Stored> {
    h.store.list(kind, Some("team-a")).await.unwrap().0
}

async fn delete_namespace(h: &Harness) {
    crate::resources::delete(
        h.store.as_ref(),
        &SystemClock,
        "Namespace",
        "",
        "team-a",
        "",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_namespace_stays_terminating_while_a_finalizer_holds_its_content() {
    let h = Harness::new().await;
    let namespaces = controller(&h);
    h.apply(TEAM).await;
    h.settle().await;
    assert_eq!(in_team(&h, "Pod").await.len(), 2);

    // Not being deleted: nothing to do.
    let revision = h.revision().await;
    assert_eq!(
        namespaces.reconcile(&ns_key()).await.unwrap(),
        Action::AwaitChange
    );
    assert_eq!(h.revision().await, revision);

    delete_namespace(&h).await;
    let action = namespaces.reconcile(&ns_key()).await.unwrap();
    assert!(matches!(action, Action::Requeue(_)), "{action:?}");

    // Everything went but the held ConfigMap, which is marked.
    for kind in ["Deployment", "ReplicaSet", "Pod"] {
        assert!(in_team(&h, kind).await.is_empty(), "{kind} left");
    }
    let left = in_team(&h, "ConfigMap").await;
    assert_eq!(left.len(), 1);
    let held: ConfigMap = decode(&left[0]).unwrap();
    assert_eq!(held.metadata.name.as_deref(), Some("held"));
    assert!(held.metadata.deletion_timestamp.is_some());

    let ns = namespace(&h).await.expect("kept while content remains");
    let status = ns.status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Terminating"));
    let remaining = condition(&ns, "NamespaceContentRemaining");
    assert_eq!(remaining.status, "True");
    assert_eq!(remaining.reason.as_deref(), Some("SomeResourcesRemain"));
    assert_eq!(
        remaining.message.as_deref(),
        Some("Some resources are remaining: configmaps. has 1 resource instances")
    );
    let finalizers_left = condition(&ns, "NamespaceFinalizersRemaining");
    assert_eq!(finalizers_left.status, "True");
    assert_eq!(
        finalizers_left.reason.as_deref(),
        Some("SomeFinalizersRemain")
    );
    assert_eq!(
        finalizers_left.message.as_deref(),
        Some("Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances")
    );
    let failure = condition(&ns, "NamespaceDeletionContentFailure");
    assert_eq!(failure.status, "False");
    assert_eq!(failure.reason.as_deref(), Some("ContentDeleted"));

    // Looking again while the finalizer stays writes nothing; the other controllers
    // leave the marked ConfigMap alone too.
    let revision = h.revision().await;
    namespaces.reconcile(&ns_key()).await.unwrap();
    h.settle().await;
    assert_eq!(h.revision().await, revision);

    // The finalizer's owner lets go: the ConfigMap goes, then the namespace.
    let uid = held.metadata.uid.as_deref().unwrap();
    let held_key = Key::new("ConfigMap", "team-a", "held");
    assert!(
        finalizers::remove(h.store.as_ref(), &held_key, uid, "example.com/keep")
            .await
            .unwrap()
    );
    assert_eq!(
        namespaces.reconcile(&ns_key()).await.unwrap(),
        Action::AwaitChange
    );
    assert!(namespace(&h).await.is_none());
    assert!(in_team(&h, "ConfigMap").await.is_empty());
}

#[tokio::test]
async fn a_namespace_with_its_own_finalizer_waits_for_it_after_its_content() {
    let h = Harness::new().await;
    let namespaces = controller(&h);
    h.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  finalizers: [example.com/ns]\n")
        .await;
    h.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: team-a}\n")
        .await;
    delete_namespace(&h).await;
    namespaces.reconcile(&ns_key()).await.unwrap();
    assert!(in_team(&h, "ConfigMap").await.is_empty());
    let ns = namespace(&h).await.expect("its own finalizer holds it");
    // The controller's part is done: its finalizer is gone, the conditions say so.
    assert_eq!(ns.spec.as_ref().and_then(|s| s.finalizers.clone()), None);
    let remaining = condition(&ns, "NamespaceContentRemaining");
    assert_eq!(remaining.status, "False");
    assert_eq!(
        remaining.message.as_deref(),
        Some("All content successfully removed")
    );
    let revision = h.revision().await;
    namespaces.reconcile(&ns_key()).await.unwrap();
    assert_eq!(h.revision().await, revision, "nothing more to write");

    let uid = ns.metadata.uid.as_deref().unwrap();
    assert!(
        finalizers::remove(h.store.as_ref(), &ns_key(), uid, "example.com/ns")
            .await
            .unwrap()
    );
    assert!(namespace(&h).await.is_none());
}

#[tokio::test]
async fn content_created_behind_admission_is_deleted_on_the_next_pass() {
    let h = Harness::new().await;
    let namespaces = controller(&h);
    h.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n")
        .await;
    delete_namespace(&h).await;
    let err = crate::resources::apply(
        h.store.as_ref(),
        &SystemClock,
        "t.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: team-a}\n",
        "",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    namespaces.reconcile(&ns_key()).await.unwrap();
    assert!(namespace(&h).await.is_none());
}
