//! Storage end to end inside the control plane: claims applied through the API, the
//! scheduler and the PV controller driven pass by pass, the nodes' reclaim calls.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use serde_json::json;
use skiff_proto::storage::SELECTED_NODE;

use super::{pod, Fixture};
use crate::controllers::nodes::Scheduler;
use crate::controllers::volumes::VolumeController;
use crate::controllers::ControllerContext;
use crate::core::objects::{decode, pod_node};
use crate::store::Key;

struct Storage {
    fx: Fixture,
    scheduler: Scheduler,
    volumes: VolumeController,
}

impl Storage {
    async fn new(nodes: &[&str]) -> Storage {
        let fx = Fixture::new();
        crate::resources::bootstrap(fx.store(), fx.ctx.clock.as_ref())
            .await
            .unwrap();
        for node in nodes {
            fx.register(node).await;
        }
        let ctx = Arc::new(ControllerContext {
            store: fx.ctx.cp.store.clone(),
            clock: fx.ctx.clock.clone(),
        });
        Storage {
            scheduler: Scheduler::new(fx.ctx.clone()),
            volumes: VolumeController::new(ctx),
            fx,
        }
    }

    async fn apply(&self, manifest: &str) {
        crate::resources::apply(
            self.fx.store(),
            self.fx.ctx.clock.as_ref(),
            "t.yaml",
            manifest,
            "",
        )
        .await
        .unwrap();
    }

    async fn try_apply(&self, manifest: &str) -> Result<(), crate::core::Error> {
        let clock = self.fx.ctx.clock.as_ref();
        crate::resources::apply(self.fx.store(), clock, "t.yaml", manifest, "")
            .await
            .map(|_| ())
    }

    /// Scheduler and controller passes until nothing changes.
    async fn settle(&self) {
        for _ in 0..20 {
            let before = self.fx.store().current_revision().await.unwrap();
            self.scheduler.pass().await.unwrap();
            self.volumes.pass().await.unwrap();
            if self.fx.store().current_revision().await.unwrap() == before {
                return;
            }
        }
        panic!("never settled");
    }

    async fn claim(&self, name: &str) -> Option<PersistentVolumeClaim> {
        let key = Key::new("PersistentVolumeClaim", "default", name);
        let stored = self.fx.store().get(&key).await.unwrap()?;
        Some(decode(&stored).unwrap())
    }

    async fn volume(&self, name: &str) -> Option<PersistentVolume> {
        let stored = self
            .fx
            .store()
            .get(&Key::new("PersistentVolume", "", name))
            .await
            .unwrap()?;
        Some(decode(&stored).unwrap())
    }

    async fn pod_using(&self, name: &str, claim: &str) {
        let mut p = pod(name);
        p["spec"]["volumes"] =
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]);
        self.fx.create_pod(p).await;
    }

    async fn node_of(&self, pod: &str) -> Option<String> {
        let p: Pod = self.fx.pod("default", pod).await?;
        pod_node(&p).map(str::to_string)
    }

    async fn delete(&self, kind: &str, name: &str) {
        crate::resources::delete(
            self.fx.store(),
            self.fx.ctx.clock.as_ref(),
            kind,
            "default",
            name,
            "",
        )
        .await
        .unwrap();
    }
}

fn phase_of_claim(claim: &PersistentVolumeClaim) -> &str {
    claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn phase_of_volume(pv: &PersistentVolume) -> &str {
    pv.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

const CLAIM: &str = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n";

fn static_pv(name: &str, size: &str, extra: &str) -> String {
    format!("apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: {name}\n  labels: {{tier: {name}}}\nspec:\n  capacity: {{storage: {size}}}\n  accessModes: [ReadWriteOnce]\n  hostPath: {{path: /srv/{name}}}\n{extra}")
}

#[tokio::test]
async fn a_claim_waits_for_its_first_pod_then_is_provisioned_on_that_node() {
    let s = Storage::new(&["n1", "n2"]).await;
    s.apply(CLAIM).await;
    s.settle().await;
    let claim = s.claim("data").await.unwrap();
    assert_eq!(phase_of_claim(&claim), "Pending");
    let spec = claim.spec.clone().unwrap();
    assert_eq!(
        spec.storage_class_name.as_deref(),
        Some("local-path"),
        "the default class"
    );
    assert!(claim
        .metadata
        .finalizers
        .unwrap()
        .contains(&"kubernetes.io/pvc-protection".to_string()));

    s.pod_using("first", "data").await;
    s.settle().await;
    let node = s
        .node_of("first")
        .await
        .expect("scheduled once the claim is bound");
    let claim = s.claim("data").await.unwrap();
    assert_eq!(phase_of_claim(&claim), "Bound");
    assert_eq!(
        claim.metadata.annotations.as_ref().unwrap()[SELECTED_NODE],
        node
    );
    let uid = claim.metadata.uid.clone().unwrap();
    let pv = s.volume(&format!("pvc-{uid}")).await.unwrap();
    assert_eq!(phase_of_volume(&pv), "Bound");
    let spec = pv.spec.clone().unwrap();
    assert_eq!(
        spec.host_path.unwrap().path,
        format!("/var/lib/skiff/storage/pvc-{uid}_default_data")
    );
    assert_eq!(
        spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete")
    );
    let term = &spec
        .node_affinity
        .unwrap()
        .required
        .unwrap()
        .node_selector_terms[0];
    assert_eq!(
        term.match_expressions.as_ref().unwrap()[0].values,
        Some(vec![node.clone()])
    );

    let (events, _) = s.fx.store().list("Event", Some("default")).await.unwrap();
    let reasons: Vec<String> = events
        .iter()
        .map(|e| decode::<k8s_openapi::api::core::v1::Event>(e).unwrap())
        .filter(|e| e.involved_object.name.as_deref() == Some("data"))
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        reasons.contains(&"WaitForFirstConsumer".to_string()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"ProvisioningSucceeded".to_string()),
        "{reasons:?}"
    );

    // Later pods with the claim go to the same node, even where another is emptier.
    for name in ["second", "third"] {
        s.pod_using(name, "data").await;
        s.settle().await;
        assert_eq!(s.node_of(name).await, Some(node.clone()), "{name}");
    }
}

#[tokio::test]
async fn static_binding_takes_the_smallest_volume_that_fits() {
    let s = Storage::new(&["n1"]).await;
    s.apply(&static_pv("small", "500Mi", "")).await;
    s.apply(&static_pv("big", "10Gi", "")).await;
    s.apply(&static_pv("medium", "2Gi", "")).await;
    s.apply(&static_pv(
        "wrong-class",
        "1Gi",
        "  storageClassName: fast\n",
    ))
    .await;
    let claim = CLAIM.replace("spec:\n", "spec:\n  storageClassName: \"\"\n");
    s.apply(&claim).await;
    s.settle().await;
    let claim = s.claim("data").await.unwrap();
    assert_eq!(phase_of_claim(&claim), "Bound");
    assert_eq!(claim.spec.unwrap().volume_name.as_deref(), Some("medium"));
    assert_eq!(phase_of_volume(&s.volume("medium").await.unwrap()), "Bound");
    assert_eq!(
        phase_of_volume(&s.volume("big").await.unwrap()),
        "Available"
    );

    // A selector narrows the choice.
    let selecting = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: picky\nspec:\n  storageClassName: \"\"\n  accessModes: [ReadWriteOnce]\n  selector: {matchLabels: {tier: big}}\n  resources: {requests: {storage: 1Gi}}\n";
    s.apply(selecting).await;
    s.settle().await;
    assert_eq!(
        s.claim("picky")
            .await
            .unwrap()
            .spec
            .unwrap()
            .volume_name
            .as_deref(),
        Some("big")
    );
}

#[tokio::test]
async fn pods_with_missing_or_unbound_immediate_claims_stay_pending_with_the_reason() {
    let s = Storage::new(&["n1", "n2"]).await;
    s.pod_using("lost", "nowhere").await;
    let immediate = CLAIM.replace("spec:\n", "spec:\n  storageClassName: \"\"\n");
    s.apply(&immediate).await;
    s.pod_using("waiting", "data").await;
    s.settle().await;
    let message = |p: Pod| {
        let conditions = p.status.unwrap().conditions.unwrap();
        let c = conditions
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")
            .unwrap();
        (c.status, c.message.unwrap_or_default())
    };
    let (status, text) = message(s.fx.pod("default", "lost").await.unwrap());
    assert_eq!(status, "False");
    assert_eq!(
        text,
        r#"0/2 nodes are available: persistentvolumeclaim "nowhere" not found."#
    );
    let (_, text) = message(s.fx.pod("default", "waiting").await.unwrap());
    assert_eq!(
        text,
        "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    );

    // A matching volume appears: the claim binds and the pod is scheduled.
    // (The running scheduler retries at once on the volume's event; passes called
    // directly wait out the pod's backoff.)
    s.apply(&static_pv("pv1", "1Gi", "")).await;
    s.settle().await;
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    s.settle().await;
    assert!(s.node_of("waiting").await.is_some());
}

#[tokio::test]
async fn a_bound_volumes_node_affinity_places_the_pod() {
    let s = Storage::new(&["n1", "n2"]).await;
    let affinity = "  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [n2]}\n";
    s.apply(&static_pv("pv2", "1Gi", affinity)).await;
    s.apply(&CLAIM.replace("spec:\n", "spec:\n  storageClassName: \"\"\n"))
        .await;
    s.settle().await;
    for name in ["a", "b", "c"] {
        s.pod_using(name, "data").await;
    }
    s.settle().await;
    for name in ["a", "b", "c"] {
        assert_eq!(s.node_of(name).await.as_deref(), Some("n2"), "{name}");
    }
}

#[tokio::test]
async fn a_claim_in_use_is_only_deleted_once_no_pod_uses_it_and_delete_reclaims_on_its_node() {
    let s = Storage::new(&["n1"]).await;
    s.apply(CLAIM).await;
    s.pod_using("user", "data").await;
    s.settle().await;
    let uid = s.claim("data").await.unwrap().metadata.uid.unwrap();
    let pv_name = format!("pvc-{uid}");

    s.delete("PersistentVolumeClaim", "data").await;
    s.settle().await;
    let claim = s
        .claim("data")
        .await
        .expect("protected while the pod uses it");
    assert!(claim.metadata.deletion_timestamp.is_some());
    assert_eq!(phase_of_volume(&s.volume(&pv_name).await.unwrap()), "Bound");

    s.delete("Pod", "user").await;
    s.settle().await;
    assert!(s.claim("data").await.is_none());
    assert_eq!(
        phase_of_volume(&s.volume(&pv_name).await.unwrap()),
        "Released"
    );

    // Only the volume's own node gets it to reclaim, and only it may report it deleted.
    use crate::frontdoor::node::volumes;
    assert!(volumes::list_released(&s.fx.ctx, "n2")
        .await
        .unwrap()
        .is_empty());
    let released = volumes::list_released(&s.fx.ctx, "n1").await.unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(
        released[0].path,
        format!("/var/lib/skiff/storage/pvc-{uid}_default_data")
    );
    assert!(volumes::deleted(&s.fx.ctx, "n2", &pv_name).await.is_err());
    volumes::deleted(&s.fx.ctx, "n1", &pv_name).await.unwrap();
    // Its protection finalizer held it, marked, until the volume controller let it go.
    s.settle().await;
    assert!(s.volume(&pv_name).await.is_none());
}

#[tokio::test]
async fn retain_keeps_a_released_volume_and_its_directory() {
    let s = Storage::new(&["n1"]).await;
    s.apply("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: keep\nprovisioner: skiff.io/local-path\nreclaimPolicy: Retain\nvolumeBindingMode: WaitForFirstConsumer\n").await;
    s.apply(&CLAIM.replace("spec:\n", "spec:\n  storageClassName: keep\n"))
        .await;
    s.pod_using("user", "data").await;
    s.settle().await;
    let uid = s.claim("data").await.unwrap().metadata.uid.unwrap();
    s.delete("Pod", "user").await;
    s.delete("PersistentVolumeClaim", "data").await;
    s.settle().await;
    let pv = s.volume(&format!("pvc-{uid}")).await.expect("kept");
    assert_eq!(phase_of_volume(&pv), "Released");
    assert!(
        crate::frontdoor::node::volumes::list_released(&s.fx.ctx, "n1")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_claims_spec_is_immutable_but_a_bound_request_may_grow() {
    let s = Storage::new(&["n1"]).await;
    s.apply(&static_pv("pv1", "5Gi", "")).await;
    s.apply(&CLAIM.replace("spec:\n", "spec:\n  storageClassName: \"\"\n"))
        .await;
    s.settle().await;
    let base = CLAIM.replace("spec:\n", "spec:\n  storageClassName: \"\"\n");
    let shrink = base.replace("1Gi", "500Mi");
    let err = s.try_apply(&shrink).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "spec.resources.requests.storage: Forbidden: field can not be less than previous value"
        ),
        "{err}"
    );
    let modes = base.replace("[ReadWriteOnce]", "[ReadWriteMany]");
    let err = s.try_apply(&modes).await.unwrap_err().to_string();
    assert!(
        err.contains("spec: Forbidden: spec is immutable after creation"),
        "{err}"
    );
    s.try_apply(&base.replace("1Gi", "2Gi")).await.unwrap();
}

#[tokio::test]
async fn the_default_class_is_made_once_and_a_users_edit_is_kept() {
    let s = Storage::new(&[]).await;
    s.apply("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local-path\nprovisioner: skiff.io/local-path\nreclaimPolicy: Retain\nvolumeBindingMode: WaitForFirstConsumer\n").await;
    crate::resources::bootstrap(s.fx.store(), s.fx.ctx.clock.as_ref())
        .await
        .unwrap();
    let stored =
        s.fx.store()
            .get(&Key::new("StorageClass", "", "local-path"))
            .await
            .unwrap()
            .unwrap();
    let class: serde_json::Value = serde_json::from_slice(&stored.json).unwrap();
    assert_eq!(class["reclaimPolicy"], "Retain");
    assert_eq!(
        class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
}
