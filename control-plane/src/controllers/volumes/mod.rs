//! The PersistentVolume controller and the built-in local-path provisioner
//! (docs/architecture.md, Storage): binds claims to volumes, provisions a directory
//! volume on the node the scheduler picked for a `WaitForFirstConsumer` claim, keeps the
//! phases (volume Available/Bound/Released/Failed, claim Pending/Bound/Lost) and lets go
//! of protected objects (`kubernetes.io/pvc-protection`, `kubernetes.io/pv-protection`)
//! once nothing uses them.
//!
//! A one-key reconciler like the scheduler: every reconcile is a pass over all claims and
//! volumes, decided from what it lists (level-triggered; its own writes trigger the next
//! pass, which finds nothing left to do). Released volumes of `reclaimPolicy: Delete`
//! that the provisioner made wait for their node's agent to remove the directory
//! (`frontdoor/node/volumes.rs`), which then deletes them.

pub mod binding;
mod writes;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use skiff_proto::storage::{LOCAL_PATH_PROVISIONER, PROVISIONED_BY, SELECTED_NODE};
use tracing::Instrument;

use super::runtime::{Action, Reconciler};
use super::ControllerContext;
use crate::core::objects::{decode_all, decode_or_skip};
use crate::core::Error;
use crate::store::{Event, Key};
use binding::{best_match, claim_class, claim_in_use, claim_ref, waits_for_consumer};

/// The name events and logs give the controller, as Kubernetes'.
pub const CONTROLLER: &str = "persistentvolume-controller";

/// The cluster's storage objects: classes by name, volumes, claims (what the PV
/// controller and the scheduler decide from).
#[derive(Default)]
pub struct StorageObjects {
    pub classes: BTreeMap<String, StorageClass>,
    pub volumes: Vec<PersistentVolume>,
    pub claims: Vec<PersistentVolumeClaim>,
}

impl StorageObjects {
    pub async fn read(store: &dyn crate::store::Store) -> Result<StorageObjects, Error> {
        let (classes, _) = store.list("StorageClass", None).await?;
        let (volumes, _) = store.list("PersistentVolume", None).await?;
        let (claims, _) = store.list("PersistentVolumeClaim", None).await?;
        Ok(StorageObjects {
            classes: decode_all::<StorageClass>(&classes)
                .into_iter()
                .map(|c| (c.metadata.name.clone().unwrap_or_default(), c))
                .collect(),
            volumes: decode_all(&volumes),
            claims: decode_all(&claims),
        })
    }

    fn volume(&self, name: &str) -> Option<&PersistentVolume> {
        self.volumes
            .iter()
            .find(|v| v.metadata.name.as_deref() == Some(name))
    }

    fn claim(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim> {
        self.claims.iter().find(|c| {
            c.metadata.namespace.as_deref() == Some(namespace)
                && c.metadata.name.as_deref() == Some(name)
        })
    }
}

/// Everything one pass decides from.
pub struct Snapshot {
    pub storage: StorageObjects,
    /// The pods that mount claims, read only when a claim is being deleted (the one
    /// thing `claim_in_use` decides): a pass, which every pod change triggers, does not
    /// list and decode thousands of pods for nothing (docs/architecture.md, What costs
    /// what).
    pub pods: Vec<Pod>,
    pub nodes: BTreeMap<String, Node>,
}

impl Snapshot {
    pub async fn read(store: &dyn crate::store::Store) -> Result<Snapshot, Error> {
        let storage = StorageObjects::read(store).await?;
        let deleting = |c: &PersistentVolumeClaim| c.metadata.deletion_timestamp.is_some();
        let pods = if storage.claims.iter().any(deleting) {
            claiming_pods(store).await?
        } else {
            Vec::new()
        };
        let (nodes, _) = store.list("Node", None).await?;
        let named = |n: &Node| n.metadata.name.clone().unwrap_or_default();
        Ok(Snapshot {
            storage,
            pods,
            nodes: decode_all::<Node>(&nodes)
                .into_iter()
                .map(|n| (named(&n), n))
                .collect(),
        })
    }
}

/// The pods that mount claims, each decoded and the others dropped as they come.
async fn claiming_pods(store: &dyn crate::store::Store) -> Result<Vec<Pod>, Error> {
    let (pods, _) = store.list("Pod", None).await?;
    Ok(pods
        .into_iter()
        .filter_map(|stored| decode_or_skip::<Pod>(&stored))
        .filter(|pod| !binding::pod_claims(pod).is_empty())
        .collect())
}

pub struct VolumeController {
    ctx: Arc<ControllerContext>,
}

impl VolumeController {
    pub fn new(ctx: Arc<ControllerContext>) -> Self {
        VolumeController { ctx }
    }

    /// One pass over every claim, then every volume. Each object is handled on its own:
    /// one that fails is reported and the others still get their turn.
    pub async fn pass(&self) -> Result<(), Error> {
        let snapshot = Snapshot::read(self.ctx.store.as_ref()).await?;
        let mut first_error = None;
        for claim in &snapshot.storage.claims {
            let key = claim_key(claim);
            let span = tracing::info_span!("sync_claim", claim = %key);
            if let Err(error) = self.sync_claim(&snapshot, claim).instrument(span).await {
                tracing::warn!(claim = %key, %error, "claim not synced");
                first_error.get_or_insert(error);
            }
        }
        for volume in &snapshot.storage.volumes {
            let name = volume.metadata.name.clone().unwrap_or_default();
            if let Err(error) = self.sync_volume(&snapshot, volume).await {
                tracing::warn!(volume = %name, %error, "volume not synced");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn sync_claim(
        &self,
        snap: &Snapshot,
        claim: &PersistentVolumeClaim,
    ) -> Result<(), Error> {
        let ctx = &self.ctx;
        if claim.metadata.deletion_timestamp.is_some() {
            if !claim_in_use(claim, &snap.pods) {
                writes::finish_deletion(ctx, &claim_key(claim), claim.metadata.uid.as_deref())
                    .await?;
            }
            return Ok(());
        }
        let spec = claim.spec.clone().unwrap_or_default();
        if let Some(name) = spec.volume_name.as_deref().filter(|n| !n.is_empty()) {
            return match snap.storage.volume(name) {
                None if binding::claim_phase(claim) == "Bound" => {
                    writes::claim_phase(ctx, claim, "Lost", None)
                        .await
                        .map(drop)
                }
                None => writes::claim_phase(ctx, claim, "Pending", None)
                    .await
                    .map(drop),
                Some(pv) if claim_ref(pv).is_none() => {
                    writes::bind_volume(ctx, pv, claim).await?;
                    writes::bind_claim(ctx, claim, pv).await
                }
                Some(pv) if binding::names_claim(pv, claim) => {
                    writes::bind_claim(ctx, claim, pv).await
                }
                Some(_) => writes::claim_phase(ctx, claim, "Pending", None)
                    .await
                    .map(drop),
            };
        }
        let class = snap.storage.classes.get(claim_class(claim));
        let selected = claim
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SELECTED_NODE))
            .and_then(|n| snap.nodes.get(n).map(|node| (n.as_str(), node)));
        let waits = waits_for_consumer(class);
        if waits && selected.is_none() {
            return writes::wait_for_consumer(ctx, claim).await;
        }
        let labels = selected
            .map(|(_, node)| node.metadata.labels.clone().unwrap_or_default())
            .unwrap_or_default();
        let on_node = selected.filter(|_| waits).map(|(name, _)| (name, &labels));
        if let Some(pv) = best_match(claim, &snap.storage.volumes, on_node) {
            writes::bind_volume(ctx, pv, claim).await?;
            return writes::bind_claim(ctx, claim, pv).await;
        }
        match (class, selected) {
            (Some(class), Some((_, node))) if class.provisioner == LOCAL_PATH_PROVISIONER => {
                let pv = writes::provision(ctx, claim, class, node).await?;
                writes::bind_claim(ctx, claim, &pv).await
            }
            _ => writes::claim_phase(ctx, claim, "Pending", None)
                .await
                .map(drop),
        }
    }

    async fn sync_volume(&self, snap: &Snapshot, pv: &PersistentVolume) -> Result<(), Error> {
        let ctx = &self.ctx;
        let name = pv.metadata.name.clone().unwrap_or_default();
        let phase = binding::volume_phase(pv);
        if pv.metadata.deletion_timestamp.is_some() && phase != "Bound" {
            let key = Key::new("PersistentVolume", "", &name);
            return writes::finish_deletion(ctx, &key, pv.metadata.uid.as_deref()).await;
        }
        let (wanted, message) = match claim_ref(pv) {
            None => ("Available", None),
            Some((namespace, claim, uid)) => match snap.storage.claim(&namespace, &claim) {
                Some(c) if uid.is_empty() || c.metadata.uid.as_deref() == Some(uid.as_str()) => {
                    if uid.is_empty() {
                        ("Available", None)
                    } else {
                        ("Bound", None)
                    }
                }
                _ if uid.is_empty() => ("Available", None),
                _ if phase == "Failed" => return Ok(()),
                _ => released(pv),
            },
        };
        if wanted != phase {
            writes::volume_phase(ctx, pv, wanted, message).await?;
        }
        Ok(())
    }
}

/// What a volume whose claim is gone becomes: Released, waiting for its node's agent
/// when the provisioner made it and it is to be deleted; Failed when it is to be deleted
/// but nothing here can (a static volume: skiff never removes a user's directory).
fn released(pv: &PersistentVolume) -> (&'static str, Option<String>) {
    let spec = pv.spec.as_ref();
    let delete = spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref()) == Some("Delete");
    let ours = pv
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PROVISIONED_BY))
        .is_some_and(|p| p == LOCAL_PATH_PROVISIONER);
    if delete && !ours {
        let message =
            "error getting deleter volume plugin for volume: no deletable volume plugin matched";
        return ("Failed", Some(message.to_string()));
    }
    ("Released", None)
}

pub fn claim_key(claim: &PersistentVolumeClaim) -> Key {
    let meta = &claim.metadata;
    Key::new(
        "PersistentVolumeClaim",
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or_default(),
    )
}

fn pass_key() -> Key {
    Key::new("VolumeController", "", "pass")
}

impl Reconciler for VolumeController {
    const NAME: &'static str = CONTROLLER;

    fn kinds(&self) -> Vec<&'static str> {
        vec!["PersistentVolumeClaim", "PersistentVolume"]
    }

    fn watched(&self) -> Vec<&'static str> {
        vec![
            "PersistentVolumeClaim",
            "PersistentVolume",
            "StorageClass",
            "Pod",
            "Node",
        ]
    }

    fn primary_key(&self, _listed: &Key) -> Key {
        pass_key()
    }

    async fn triggers(&self, event: &Event) -> Vec<Key> {
        // A pod matters only when it uses claims (in use, or no longer).
        if event.object.key.kind == "Pod" {
            let uses_claims = serde_json::from_slice::<Pod>(&event.object.json)
                .is_ok_and(|pod| !binding::pod_claims(&pod).is_empty());
            if !uses_claims {
                return vec![];
            }
        }
        vec![pass_key()]
    }

    async fn reconcile(&self, _key: &Key) -> Result<Action, Error> {
        self.pass().await?;
        Ok(Action::AwaitChange)
    }
}
