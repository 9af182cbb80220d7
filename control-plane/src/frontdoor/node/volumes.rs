//! Reclaiming provisioned volumes (docs/architecture.md, Storage): an agent lists the
//! Released local-path volumes of `reclaimPolicy: Delete` that live on its own node,
//! removes their directories, and reports each one gone; the volume is then deleted.
//! A node sees and deletes only volumes whose node affinity names it.

use k8s_openapi::api::core::v1::PersistentVolume;
use skiff_proto::storage::{LOCAL_PATH_PROVISIONER, PROVISIONED_BY};
use skiff_proto::v1::ReleasedVolume;
use tracing::info;

use crate::controllers::nodes::NodeContext;
use crate::controllers::volumes::binding::{hostname_term, volume_phase};
use crate::core::objects::{decode, decode_all};
use crate::core::Error;
use crate::resources::finalizers;
use crate::store::Key;

/// The volume's directory when it is the node's to remove now; `None` otherwise.
fn releasable_path(pv: &PersistentVolume, node: &str) -> Option<String> {
    let spec = pv.spec.as_ref()?;
    let ours = pv.metadata.annotations.as_ref()?.get(PROVISIONED_BY)? == LOCAL_PATH_PROVISIONER;
    let on_node = spec
        .node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
        .is_some_and(|r| r.node_selector_terms == vec![hostname_term(node)]);
    let delete = spec.persistent_volume_reclaim_policy.as_deref() == Some("Delete");
    (ours && on_node && delete && volume_phase(pv) == "Released")
        .then(|| spec.host_path.as_ref().map(|h| h.path.clone()))
        .flatten()
}

pub async fn list_released(ctx: &NodeContext, node: &str) -> Result<Vec<ReleasedVolume>, Error> {
    let (stored, _) = ctx.cp.store.list("PersistentVolume", None).await?;
    Ok(decode_all::<PersistentVolume>(&stored)
        .iter()
        .filter_map(|pv| {
            let path = releasable_path(pv, node)?;
            let name = pv.metadata.name.clone().unwrap_or_default();
            Some(ReleasedVolume { name, path })
        })
        .collect())
}

/// Deletes the volume whose directory `node` removed; refused for any volume that is not
/// a Released one of that node.
pub async fn deleted(ctx: &NodeContext, node: &str, name: &str) -> Result<(), Error> {
    let store = ctx.cp.store.as_ref();
    let key = Key::new("PersistentVolume", "", name);
    let Some(stored) = store.get(&key).await? else {
        return Ok(());
    };
    let pv: PersistentVolume = decode(&stored)?;
    if releasable_path(&pv, node).is_none() {
        return Err(Error::PermissionDenied(format!(
            "node {node:?} may not delete persistentvolume {name:?}: not a released volume of that node"
        )));
    }
    let clock = ctx.clock.as_ref();
    let deleted = finalizers::delete_if(store, clock, &key, &stored.uid).await?;
    if deleted.is_some_and(|d| d.acted()) {
        info!(volume = name, node, "released volume deleted");
    }
    Ok(())
}
