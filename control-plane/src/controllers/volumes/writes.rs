//! The PV controller's writes, each a compare-and-swap read-modify-write that leaves an
//! object alone when it already says what it should (so a repeated pass writes nothing).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{HostPathVolumeSource, NodeSelector};
use k8s_openapi::api::core::v1::{
    Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    PersistentVolumeSpec, PersistentVolumeStatus, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use skiff_proto::storage::{
    volume_dir_name, volume_name, BIND_COMPLETED, BOUND_BY_CONTROLLER, DEFAULT_LOCAL_PATH_DIR,
    LOCAL_PATH_DIR_ANNOTATION, LOCAL_PATH_PROVISIONER, PROVISIONED_BY, PVC_PROTECTION,
    PV_PROTECTION, STORAGE_PROVISIONER,
};
use tracing::info;

use super::binding::hostname_term;
use super::{claim_key, CONTROLLER};
use crate::controllers::ControllerContext;
use crate::core::events;
use crate::core::objects::{encode, modify, Modified};
use crate::core::Error;
use crate::store::{Key, StoreError};

fn volume_key(pv: &PersistentVolume) -> Key {
    Key::new(
        "PersistentVolume",
        "",
        pv.metadata.name.as_deref().unwrap_or_default(),
    )
}

fn annotate(meta: &mut ObjectMeta, key: &str, value: &str) -> bool {
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    if annotations.get(key).map(String::as_str) == Some(value) {
        return false;
    }
    annotations.insert(key.to_string(), value.to_string());
    true
}

/// A volume's `claimRef` to the claim.
fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    let meta = &claim.metadata;
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

/// Reserves `pv` for `claim` (`spec.claimRef` with the claim's uid), as the controller's
/// binding, and marks it Bound.
pub async fn bind_volume(
    ctx: &ControllerContext,
    pv: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<(), Error> {
    let reference = claim_reference(claim);
    let now = ctx.clock.now();
    let written = modify::<PersistentVolume, _>(
        ctx.store.as_ref(),
        &volume_key(pv),
        pv.metadata.uid.as_deref(),
        |current| {
            let bound = super::binding::volume_phase(current) == "Bound";
            let spec = current.spec.get_or_insert_with(Default::default);
            let same = spec.claim_ref.as_ref().is_some_and(|r| {
                r.namespace == reference.namespace
                    && r.name == reference.name
                    && r.uid == reference.uid
            });
            if same && bound {
                return Ok(false);
            }
            if spec.claim_ref.as_ref().is_some_and(|r| {
                r.uid.as_deref().is_some_and(|u| !u.is_empty()) && r.uid != reference.uid
            }) {
                return Err(Error::Conflict(format!(
                    "volume {:?} was bound to another claim meanwhile",
                    pv.metadata.name
                )));
            }
            if spec.claim_ref.is_none() {
                annotate(&mut current.metadata, BOUND_BY_CONTROLLER, "yes");
            }
            spec.claim_ref = Some(reference.clone());
            set_volume_status(current, "Bound", None, now);
            Ok(true)
        },
    )
    .await?;
    if let Modified::Written(_) = written {
        info!(volume = ?pv.metadata.name, claim = %claim_key(claim), "volume bound");
    }
    Ok(())
}

fn set_volume_status(
    pv: &mut PersistentVolume,
    phase: &str,
    message: Option<String>,
    now: jiff::Timestamp,
) {
    let status = pv
        .status
        .get_or_insert_with(PersistentVolumeStatus::default);
    if status.phase.as_deref() != Some(phase) {
        status.last_phase_transition_time = Some(Time(now));
    }
    status.phase = Some(phase.to_string());
    status.message = message;
}

/// Points `claim` at `pv` (`spec.volumeName`, the bind annotations) and marks it Bound.
pub async fn bind_claim(
    ctx: &ControllerContext,
    claim: &PersistentVolumeClaim,
    pv: &PersistentVolume,
) -> Result<(), Error> {
    let name = pv.metadata.name.clone().unwrap_or_default();
    let key = claim_key(claim);
    let written = modify::<PersistentVolumeClaim, _>(
        ctx.store.as_ref(),
        &key,
        claim.metadata.uid.as_deref(),
        |current| {
            let spec = current.spec.get_or_insert_with(Default::default);
            match spec.volume_name.as_deref() {
                Some(bound) if !bound.is_empty() && bound != name => {
                    return Err(Error::Conflict(format!(
                        "{key} was bound to {bound} meanwhile"
                    )))
                }
                _ => {}
            }
            let mut changed = spec.volume_name.as_deref() != Some(name.as_str());
            spec.volume_name = Some(name.clone());
            if changed {
                // A claim the user pointed at a volume was not bound by the controller.
                annotate(&mut current.metadata, BOUND_BY_CONTROLLER, "yes");
            }
            changed |= annotate(&mut current.metadata, BIND_COMPLETED, "yes");
            changed |= set_claim_status(current, "Bound", Some(pv));
            Ok(changed)
        },
    )
    .await?;
    if let Modified::Written(_) = written {
        info!(claim = %key, volume = %name, "claim bound");
    }
    Ok(())
}

/// Sets the claim's phase (with a volume: its capacity and access modes, as Bound shows).
fn set_claim_status(
    claim: &mut PersistentVolumeClaim,
    phase: &str,
    pv: Option<&PersistentVolume>,
) -> bool {
    let before = claim.status.clone();
    let status = claim
        .status
        .get_or_insert_with(PersistentVolumeClaimStatus::default);
    status.phase = Some(phase.to_string());
    match pv.and_then(|pv| pv.spec.as_ref()) {
        Some(spec) => {
            status.capacity = spec.capacity.clone();
            status.access_modes = spec.access_modes.clone();
        }
        None if phase == "Pending" => {
            status.capacity = None;
            status.access_modes = None;
        }
        None => {}
    }
    claim.status != before
}

/// Records the claim's phase when it differs; whether it wrote.
pub async fn claim_phase(
    ctx: &ControllerContext,
    claim: &PersistentVolumeClaim,
    phase: &str,
    pv: Option<&PersistentVolume>,
) -> Result<bool, Error> {
    let key = claim_key(claim);
    let written = modify::<PersistentVolumeClaim, _>(
        ctx.store.as_ref(),
        &key,
        claim.metadata.uid.as_deref(),
        |current| Ok(set_claim_status(current, phase, pv)),
    )
    .await?;
    let wrote = matches!(written, Modified::Written(_));
    if wrote {
        info!(claim = %key, phase, "claim phase");
    }
    Ok(wrote)
}

/// A claim of a `WaitForFirstConsumer` class no pod uses yet: Pending, with Kubernetes'
/// `WaitForFirstConsumer` event when it starts waiting.
pub async fn wait_for_consumer(
    ctx: &ControllerContext,
    claim: &PersistentVolumeClaim,
) -> Result<(), Error> {
    let new = super::binding::claim_phase(claim).is_empty();
    if claim_phase(ctx, claim, "Pending", None).await? && new {
        let involved = events::reference_to("PersistentVolumeClaim", &claim.metadata);
        let message = "waiting for first consumer to be created before binding";
        events::record_or_warn(
            ctx,
            involved,
            "Normal",
            "WaitForFirstConsumer",
            message,
            CONTROLLER,
        )
        .await;
    }
    Ok(())
}

/// Records a volume's phase (and why, for Failed).
pub async fn volume_phase(
    ctx: &ControllerContext,
    pv: &PersistentVolume,
    phase: &str,
    message: Option<String>,
) -> Result<(), Error> {
    let now = ctx.clock.now();
    let written = modify::<PersistentVolume, _>(
        ctx.store.as_ref(),
        &volume_key(pv),
        pv.metadata.uid.as_deref(),
        |current| {
            if super::binding::volume_phase(current) == phase {
                return Ok(false);
            }
            set_volume_status(current, phase, message.clone(), now);
            Ok(true)
        },
    )
    .await?;
    if let Modified::Written(_) = written {
        info!(volume = ?pv.metadata.name, phase, "volume phase");
    }
    Ok(())
}

/// The local-path provisioner: a directory volume for `claim` on `node`, under the
/// node's local-path dir, reserved for the claim (docs/architecture.md, Storage).
/// Returns the volume, made now or by an earlier pass.
pub async fn provision(
    ctx: &ControllerContext,
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &Node,
) -> Result<PersistentVolume, Error> {
    let meta = &claim.metadata;
    let uid = meta.uid.clone().unwrap_or_default();
    let (namespace, claim_name) = (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    );
    let node_name = node.metadata.name.clone().unwrap_or_default();
    let root = node
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LOCAL_PATH_DIR_ANNOTATION))
        .map_or(DEFAULT_LOCAL_PATH_DIR, String::as_str)
        .trim_end_matches('/');
    let name = volume_name(&uid);
    let path = format!("{root}/{}", volume_dir_name(&uid, &namespace, &claim_name));
    let spec = claim.spec.clone().unwrap_or_default();
    let request = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.clone())
        .and_then(|r| r.get("storage").cloned());
    let now = ctx.clock.now_seconds();
    let pv = PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            uid: Some(crate::core::ids::new_uid()),
            creation_timestamp: Some(Time(now)),
            annotations: Some(BTreeMap::from([
                (
                    PROVISIONED_BY.to_string(),
                    LOCAL_PATH_PROVISIONER.to_string(),
                ),
                (
                    "local.path.provisioner/selected-node".to_string(),
                    node_name.clone(),
                ),
            ])),
            finalizers: Some(vec![PV_PROTECTION.to_string()]),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            access_modes: spec.access_modes.clone(),
            capacity: request.map(|q| BTreeMap::from([("storage".to_string(), q)])),
            claim_ref: Some(claim_reference(claim)),
            host_path: Some(HostPathVolumeSource {
                path,
                type_: Some("DirectoryOrCreate".into()),
            }),
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![hostname_term(&node_name)],
                }),
            }),
            persistent_volume_reclaim_policy: Some(
                class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".into()),
            ),
            storage_class_name: class.metadata.name.clone(),
            volume_mode: Some("Filesystem".into()),
            mount_options: class.mount_options.clone(),
            ..Default::default()
        }),
        status: Some(PersistentVolumeStatus {
            phase: Some("Bound".into()),
            last_phase_transition_time: Some(Time(now)),
            ..Default::default()
        }),
    };
    let key = Key::new("PersistentVolume", "", &name);
    let store = ctx.store.as_ref();
    let pv_uid = pv.metadata.uid.clone().unwrap_or_default();
    match store.create(key.clone(), pv_uid, encode(&pv)).await {
        Ok(_) => {
            info!(claim = %claim_key(claim), volume = %name, node = %node_name, "volume provisioned");
            let involved = events::reference_to("PersistentVolumeClaim", meta);
            let message = format!("Successfully provisioned volume {name}");
            events::record_or_warn(
                ctx,
                involved,
                "Normal",
                "ProvisioningSucceeded",
                &message,
                LOCAL_PATH_PROVISIONER,
            )
            .await;
            let _ = modify::<PersistentVolumeClaim, _>(
                store,
                &claim_key(claim),
                meta.uid.as_deref(),
                |c| {
                    Ok(annotate(
                        &mut c.metadata,
                        STORAGE_PROVISIONER,
                        LOCAL_PATH_PROVISIONER,
                    ))
                },
            )
            .await?;
            Ok(pv)
        }
        Err(StoreError::AlreadyExists(_)) => {
            let stored = store.get(&key).await?.ok_or_else(|| {
                Error::Conflict(format!("volume {name} vanished while provisioning"))
            })?;
            Ok(crate::core::objects::decode(&stored)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The end of a protected object's deletion: its protection finalizer goes, and with it
/// the object unless another finalizer holds it (if it is still the one read, `uid`).
pub async fn finish_deletion(
    ctx: &ControllerContext,
    key: &Key,
    uid: Option<&str>,
) -> Result<(), Error> {
    let store = ctx.store.as_ref();
    let finalizer = if key.kind == "PersistentVolume" {
        PV_PROTECTION
    } else {
        PVC_PROTECTION
    };
    if let Some(uid) = uid {
        if crate::resources::finalizers::remove(store, key, uid, finalizer).await? {
            info!(object = %key, finalizer, "protection finalizer removed");
        }
    }
    Ok(())
}
