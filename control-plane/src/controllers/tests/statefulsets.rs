//! The StatefulSet controller: ordinal pods with their claims, OrderedReady and Parallel,
//! scale-down in reverse, claim retention, partitioned rolling updates, OnDelete.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim};

use super::*;
use crate::controllers::StatefulSetController;
use crate::core::objects::is_being_deleted;

/// The user's web StatefulSet: `replicas`, a policy block and an image.
fn web(replicas: i32, extra: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: {replicas}
{extra}  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: {image}
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"
    )
}

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: None
  selector:
    app: nginx
  ports:
  - port: 80
";

struct Sts {
    h: Harness,
    sts: StatefulSetController,
}

impl Sts {
    async fn new() -> Sts {
        let h = Harness::new().await;
        let ctx = Arc::new(ControllerContext {
            store: h.store.clone(),
            clock: Arc::new(h.clock.clone()),
        });
        h.apply(SERVICE).await;
        Sts {
            sts: StatefulSetController::new(ctx),
            h,
        }
    }

    /// One reconcile of the set, then the collector over pods and claims.
    async fn step(&self) {
        for key in self.h.keys("StatefulSet").await {
            self.sts.reconcile(&key).await.unwrap();
        }
        for kind in ["Pod", "PersistentVolumeClaim"] {
            for key in self.h.keys(kind).await {
                self.h.gc.reconcile(&key).await.unwrap();
            }
        }
    }

    async fn settle(&self) {
        for _ in 0..100 {
            let before = self.h.revision().await;
            self.step().await;
            if self.h.revision().await == before {
                return;
            }
        }
        panic!("the statefulset controller never settled");
    }

    /// The pods' names, in order.
    async fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .h
            .pods()
            .await
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        names.sort();
        names
    }

    async fn pod(&self, name: &str) -> Pod {
        self.h.get("Pod", name).await.expect("the pod exists")
    }

    async fn claim(&self, name: &str) -> Option<PersistentVolumeClaim> {
        self.h.get("PersistentVolumeClaim", name).await
    }

    async fn set(&self) -> StatefulSet {
        self.h
            .get("StatefulSet", "web")
            .await
            .expect("the set exists")
    }

    /// Every pod Running and Ready, then settled.
    async fn all_ready(&self) {
        for _ in 0..10 {
            self.h.kubelet(|_| true).await;
            self.settle().await;
        }
    }

    async fn events(&self) -> Vec<(String, String, String)> {
        let (items, _) = self.h.store.list("Event", Some("default")).await.unwrap();
        decode_all::<Event>(&items)
            .into_iter()
            .filter(|e| e.involved_object.kind.as_deref() == Some("StatefulSet"))
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
            .collect()
    }
}

fn image(pod: &Pod) -> String {
    pod.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

fn label<'a>(pod: &'a Pod, key: &str) -> &'a str {
    pod.metadata.labels.as_ref().unwrap()[key].as_str()
}

#[tokio::test]
async fn ordered_creation_waits_for_each_pod_to_be_ready() {
    let s = Sts::new().await;
    s.h.apply(&web(3, "", "nginx:1")).await;
    s.settle().await;
    assert_eq!(s.names().await, ["web-0"]);
    let pod = s.pod("web-0").await;
    assert_eq!(label(&pod, "statefulset.kubernetes.io/pod-name"), "web-0");
    assert_eq!(label(&pod, "apps.kubernetes.io/pod-index"), "0");
    let revision = s.set().await.status.unwrap().update_revision.unwrap();
    assert_eq!(label(&pod, "controller-revision-hash"), revision);
    assert!(revision.starts_with("web-"));
    assert_eq!(owner_name(&pod.metadata).as_deref(), Some("web"));
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("web-0"));
    assert_eq!(spec.subdomain.as_deref(), Some("web"));
    let volume = spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "www");
    let source = volume.unwrap().persistent_volume_claim.as_ref().unwrap();
    assert_eq!(source.claim_name, "www-web-0");
    let claim = s.claim("www-web-0").await.expect("the claim is made first");
    assert_eq!(claim.metadata.labels.unwrap()["app"], "nginx");
    assert_eq!(
        claim.spec.unwrap().storage_class_name.as_deref(),
        Some("local-path")
    );

    // Running but not Ready: web-1 waits.
    s.h.kubelet(|_| false).await;
    s.settle().await;
    assert_eq!(s.names().await, ["web-0"]);
    s.h.kubelet(|_| true).await;
    s.settle().await;
    assert_eq!(s.names().await, ["web-0", "web-1"]);
    s.all_ready().await;
    assert_eq!(s.names().await, ["web-0", "web-1", "web-2"]);
    let status = s.set().await.status.unwrap();
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.current_replicas,
            status.updated_replicas
        ),
        (3, Some(3), Some(3), Some(3))
    );
    assert_eq!(status.current_revision, status.update_revision);
    assert_eq!(status.observed_generation, Some(1));
    let events = s.events().await;
    for message in [
        "create Claim www-web-0 Pod web-0 in StatefulSet web success",
        "create Pod web-0 in StatefulSet web successful",
    ] {
        assert!(
            events
                .iter()
                .any(|(_, reason, m)| reason == "SuccessfulCreate" && m == message),
            "{message} in {events:?}"
        );
    }
    assert!(events.iter().all(|(t, _, _)| t == "Normal"), "{events:?}");
}

#[tokio::test]
async fn parallel_creates_every_pod_at_once() {
    let s = Sts::new().await;
    s.h.apply(&web(3, "  podManagementPolicy: Parallel\n", "nginx:1"))
        .await;
    s.settle().await;
    assert_eq!(s.names().await, ["web-0", "web-1", "web-2"]);
    for ord in 0..3 {
        assert!(s.claim(&format!("www-web-{ord}")).await.is_some());
    }
}

#[tokio::test]
async fn parallel_scale_down_deletes_every_surplus_pod_at_once() {
    let s = Sts::new().await;
    let parallel = "  podManagementPolicy: Parallel\n";
    s.h.apply(&web(3, parallel, "nginx:1")).await;
    s.settle().await;
    s.h.apply(&web(1, parallel, "nginx:1")).await;
    s.step().await;
    assert_eq!(
        s.names().await,
        ["web-0"],
        "no readiness needed, no waiting"
    );
}

#[tokio::test]
async fn min_ready_seconds_delays_the_next_ordinal() {
    let s = Sts::new().await;
    s.h.apply(&web(2, "  minReadySeconds: 30\n", "nginx:1"))
        .await;
    s.all_ready().await;
    assert_eq!(s.names().await, ["web-0"]);
    assert_eq!(s.set().await.status.unwrap().available_replicas, Some(0));
    s.h.clock.advance(Duration::from_secs(31));
    s.settle().await;
    assert_eq!(s.names().await, ["web-0", "web-1"]);
}

#[tokio::test]
async fn scale_down_removes_the_highest_ordinal_first_and_keeps_the_claims() {
    let s = Sts::new().await;
    s.h.apply(&web(3, "", "nginx:1")).await;
    s.all_ready().await;
    s.h.apply(&web(1, "", "nginx:1")).await;
    s.step().await;
    assert_eq!(
        s.names().await,
        ["web-0", "web-1"],
        "one at a time, highest first"
    );
    s.step().await;
    assert_eq!(s.names().await, ["web-0"]);
    for ord in 0..3 {
        assert!(
            s.claim(&format!("www-web-{ord}")).await.is_some(),
            "Retain keeps www-web-{ord}"
        );
    }
    let deleted: Vec<String> = s
        .events()
        .await
        .into_iter()
        .filter(|(_, reason, _)| reason == "SuccessfulDelete")
        .map(|(_, _, m)| m)
        .collect();
    for ord in [1, 2] {
        let message = format!("delete Pod web-{ord} in StatefulSet web successful");
        assert!(deleted.contains(&message), "{message} in {deleted:?}");
    }
    // Scaling up again gives web-1 its old claim back.
    let claim_uid = s.claim("www-web-1").await.unwrap().metadata.uid;
    s.h.apply(&web(2, "", "nginx:1")).await;
    s.all_ready().await;
    assert_eq!(s.names().await, ["web-0", "web-1"]);
    assert_eq!(s.claim("www-web-1").await.unwrap().metadata.uid, claim_uid);
}

#[tokio::test]
async fn a_deleted_pod_comes_back_under_its_name_with_the_same_claim() {
    let s = Sts::new().await;
    s.h.apply(&web(2, "", "nginx:1")).await;
    s.all_ready().await;
    let old = s.pod("web-0").await.metadata.uid;
    let claim = s.claim("www-web-0").await.unwrap().metadata.uid;
    s.h.delete("Pod", "web-0", "").await;
    s.all_ready().await;
    let new = s.pod("web-0").await;
    assert_ne!(new.metadata.uid, old);
    assert_eq!(s.claim("www-web-0").await.unwrap().metadata.uid, claim);

    // A failed pod is replaced the same way.
    let stored =
        s.h.store
            .get(&Key::new("Pod", "default", "web-1"))
            .await
            .unwrap()
            .unwrap();
    let failed = stored.uid.clone();
    s.h.write_status(stored, json!({"phase": "Failed"})).await;
    s.settle().await;
    assert_ne!(s.pod("web-1").await.metadata.uid.unwrap(), failed);
}

#[tokio::test]
async fn retain_keeps_the_claims_when_the_set_is_deleted() {
    let s = Sts::new().await;
    s.h.apply(&web(2, "", "nginx:1")).await;
    s.all_ready().await;
    s.h.delete("StatefulSet", "web", "").await;
    s.settle().await;
    assert!(s.names().await.is_empty());
    for name in ["www-web-0", "www-web-1"] {
        let claim = s.claim(name).await.expect("Retain keeps the claim");
        assert!(!is_being_deleted(&claim.metadata));
    }
}

/// Gone, or marked for deletion behind its protection finalizer.
fn going(claim: Option<PersistentVolumeClaim>) -> bool {
    claim.is_none_or(|c| is_being_deleted(&c.metadata))
}

#[tokio::test]
async fn when_deleted_delete_takes_the_claims_with_the_set() {
    let s = Sts::new().await;
    let policy = "  persistentVolumeClaimRetentionPolicy:\n    whenDeleted: Delete\n";
    s.h.apply(&web(2, policy, "nginx:1")).await;
    s.all_ready().await;
    let claim = s.claim("www-web-0").await.unwrap();
    let owners = claim.metadata.owner_references.unwrap();
    assert_eq!(
        (owners[0].kind.as_str(), owners[0].name.as_str()),
        ("StatefulSet", "web")
    );
    s.h.delete("StatefulSet", "web", "").await;
    s.settle().await;
    assert!(going(s.claim("www-web-0").await));
    assert!(going(s.claim("www-web-1").await));
}

#[tokio::test]
async fn when_scaled_delete_takes_the_claims_of_the_removed_ordinals_only() {
    let s = Sts::new().await;
    let policy = "  persistentVolumeClaimRetentionPolicy:\n    whenScaled: Delete\n";
    s.h.apply(&web(2, policy, "nginx:1")).await;
    s.all_ready().await;
    assert!(s
        .claim("www-web-1")
        .await
        .unwrap()
        .metadata
        .owner_references
        .is_none());
    s.h.apply(&web(1, policy, "nginx:1")).await;
    s.settle().await;
    assert_eq!(s.names().await, ["web-0"]);
    assert!(going(s.claim("www-web-1").await));
    assert!(!going(s.claim("www-web-0").await));
}

#[tokio::test]
async fn a_partitioned_rolling_update_replaces_ordinals_from_the_top_down_to_the_partition() {
    let s = Sts::new().await;
    let partition = "  updateStrategy:\n    rollingUpdate:\n      partition: 1\n";
    s.h.apply(&web(4, partition, "nginx:1")).await;
    s.all_ready().await;
    let old_revision = s.set().await.status.unwrap().current_revision.unwrap();
    s.h.apply(&web(4, partition, "nginx:2")).await;
    s.settle().await;
    // web-3 went first and is back at the new revision; web-2 waits for it to be Ready.
    assert_eq!(image(&s.pod("web-3").await), "nginx:2");
    assert_eq!(image(&s.pod("web-2").await), "nginx:1");
    s.all_ready().await;
    assert_eq!(image(&s.pod("web-2").await), "nginx:2");
    assert_eq!(image(&s.pod("web-1").await), "nginx:2");
    assert_eq!(
        image(&s.pod("web-0").await),
        "nginx:1",
        "below the partition"
    );
    let status = s.set().await.status.unwrap();
    assert_eq!(
        (status.updated_replicas, status.current_replicas),
        (Some(3), Some(1))
    );
    assert_eq!(
        status.current_revision.as_deref(),
        Some(old_revision.as_str())
    );
    assert_ne!(status.update_revision, status.current_revision);

    // Partition 0 finishes the update.
    s.h.apply(&web(4, "", "nginx:2")).await;
    s.all_ready().await;
    assert_eq!(image(&s.pod("web-0").await), "nginx:2");
    let status = s.set().await.status.unwrap();
    assert_eq!(status.current_revision, status.update_revision);
    assert_eq!(status.current_replicas, Some(4));
}

#[tokio::test]
async fn a_pod_below_the_partition_comes_back_at_the_current_revision() {
    let s = Sts::new().await;
    let partition = "  updateStrategy:\n    rollingUpdate:\n      partition: 2\n";
    s.h.apply(&web(3, partition, "nginx:1")).await;
    s.all_ready().await;
    let old_revision = s.set().await.status.unwrap().current_revision.unwrap();
    s.h.apply(&web(3, partition, "nginx:2")).await;
    s.all_ready().await;
    assert_eq!(image(&s.pod("web-2").await), "nginx:2");
    s.h.delete("Pod", "web-0", "").await;
    s.all_ready().await;
    let web0 = s.pod("web-0").await;
    assert_eq!(image(&web0), "nginx:1");
    assert_eq!(label(&web0, "controller-revision-hash"), old_revision);
}

#[tokio::test]
async fn on_delete_replaces_only_the_pods_users_delete() {
    let s = Sts::new().await;
    let on_delete = "  updateStrategy:\n    type: OnDelete\n";
    s.h.apply(&web(2, on_delete, "nginx:1")).await;
    s.all_ready().await;
    s.h.apply(&web(2, on_delete, "nginx:2")).await;
    s.all_ready().await;
    assert_eq!(image(&s.pod("web-0").await), "nginx:1");
    assert_eq!(image(&s.pod("web-1").await), "nginx:1");
    s.h.delete("Pod", "web-1", "").await;
    s.all_ready().await;
    assert_eq!(image(&s.pod("web-1").await), "nginx:2");
    assert_eq!(image(&s.pod("web-0").await), "nginx:1");
    assert_eq!(s.set().await.status.unwrap().updated_replicas, Some(1));
}

#[tokio::test]
async fn a_missing_governing_service_is_a_warning_event_not_a_refusal() {
    let s = Sts::new().await;
    s.h.apply(&web(1, "", "nginx:1").replace("serviceName: web", "serviceName: nowhere"))
        .await;
    s.settle().await;
    assert_eq!(
        s.names().await,
        ["web-0"],
        "Kubernetes accepts and runs the set"
    );
    let events = s.events().await;
    let warning = events
        .iter()
        .find(|(t, reason, _)| t == "Warning" && reason == "FailedGoverningService")
        .unwrap_or_else(|| panic!("no warning in {events:?}"));
    assert!(warning.2.contains("\"nowhere\""), "{}", warning.2);
    assert!(warning.2.contains("does not exist"), "{}", warning.2);
}

#[tokio::test]
async fn a_selector_that_does_not_match_the_template_is_refused_at_apply() {
    let s = Sts::new().await;
    let manifest = web(1, "", "nginx:1").replace(
        "      app: nginx\n  template",
        "      app: other\n  template",
    );
    let err = crate::resources::apply(s.h.store.as_ref(), &SystemClock, "web.yaml", &manifest, "")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.template.metadata.labels"), "{err}");
    assert!(
        err.contains("`selector` does not match template `labels`"),
        "{err}"
    );
    assert!(s.h.get::<StatefulSet>("StatefulSet", "web").await.is_none());
}
