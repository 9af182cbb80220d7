//! Layers → overlayfs snapshots named by chain ID, the way containerd's own unpacker does it,
//! so snapshots are shared with `ctr` and other clients of the same namespace.

use std::collections::HashMap;

use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
};
use containerd_client::services::v1::ApplyRequest;
use sha2::{Digest as _, Sha256};
use tonic::Code;
use tracing::{debug, info};

use super::super::{client::SNAPSHOTTER, Containerd, RuntimeError};
use super::content::{self, Lease};
use super::manifest::check_layer_media_type;
use super::store::Resolved;

/// Label containerd's GC follows from the image config to its top snapshot.
pub const GC_SNAPSHOT_LABEL: &str = "containerd.io/gc.ref.snapshot.overlayfs";
/// Tells the snapshotter which committed snapshot a prepare is meant to become; containerd
/// answers AlreadyExists when it already exists, which makes concurrent unpacks cheap.
const TARGET_SNAPSHOT_LABEL: &str = "containerd.io/snapshot.ref";

/// chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)), per the OCI image spec.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{parent} {diff}").as_bytes()))
            ),
        };
        out.push(next);
    }
    out
}

/// True when the snapshot exists (committed or not).
pub async fn snapshot_exists(ctrd: &Containerd, key: &str) -> Result<bool, RuntimeError> {
    let req = StatSnapshotRequest {
        snapshotter: SNAPSHOTTER.to_string(),
        key: key.to_string(),
    };
    match ctrd.snapshots().stat(ctrd.request(req)).await {
        Ok(_) => Ok(true),
        Err(s) if s.code() == Code::NotFound => Ok(false),
        Err(s) => Err(s.into()),
    }
}

/// The top chain ID of `image` if it is already fully unpacked.
pub async fn unpacked(ctrd: &Containerd, image: &Resolved) -> Result<Option<String>, RuntimeError> {
    let top = chain_ids(image.diff_ids()).pop().unwrap_or_default();
    Ok(snapshot_exists(ctrd, &top).await?.then_some(top))
}

/// Unpacks every layer not unpacked yet and labels the config with the top snapshot;
/// returns the top chain ID.
pub async fn unpack(
    ctrd: &Containerd,
    lease: &Lease,
    name: &str,
    image: &Resolved,
) -> Result<String, RuntimeError> {
    let chains = chain_ids(image.diff_ids());
    let mut parent = String::new();
    for (i, (layer, chain)) in image.layers.iter().zip(&chains).enumerate() {
        if snapshot_exists(ctrd, chain).await? {
            lease.add_snapshot(chain).await?;
        } else {
            check_layer_media_type(&layer.media_type)?;
            let started = std::time::Instant::now();
            apply_layer(ctrd, lease, layer, &image.diff_ids()[i], chain, &parent).await?;
            info!(
                image = %name,
                layer = i,
                total = chains.len(),
                chain_id = %chain,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "layer unpacked"
            );
        }
        parent = chain.clone();
    }
    let labels = HashMap::from([(GC_SNAPSHOT_LABEL.to_string(), parent.clone())]);
    content::set_labels(ctrd, &image.config_desc.digest, labels).await?;
    Ok(parent)
}

async fn apply_layer(
    ctrd: &Containerd,
    lease: &Lease,
    layer: &super::manifest::Descriptor,
    diff_id: &str,
    chain: &str,
    parent: &str,
) -> Result<(), RuntimeError> {
    let key = format!("extract-{}-{chain}", content::unique());
    let prepare = PrepareSnapshotRequest {
        snapshotter: SNAPSHOTTER.to_string(),
        key: key.clone(),
        parent: parent.to_string(),
        labels: HashMap::from([(TARGET_SNAPSHOT_LABEL.to_string(), chain.to_string())]),
    };
    let mounts = match ctrd
        .snapshots()
        .prepare(ctrd.request_leased(prepare, &lease.id))
        .await
    {
        Ok(r) => r.into_inner().mounts,
        Err(s) if s.code() == Code::AlreadyExists => {
            debug!(chain_id = %chain, "snapshot unpacked concurrently");
            return Ok(());
        }
        Err(s) => return Err(s.into()),
    };
    let result = async {
        let apply = ApplyRequest {
            diff: Some(layer.to_containerd()),
            mounts,
            payloads: HashMap::new(),
            sync_fs: false,
        };
        let applied = ctrd
            .diff()
            .apply(ctrd.request_leased(apply, &lease.id))
            .await?
            .into_inner()
            .applied
            .unwrap_or_default();
        if applied.digest != diff_id {
            return Err(RuntimeError::InvalidArgument(format!(
                "layer {} unpacked to {} but the image config says {diff_id}",
                layer.digest, applied.digest
            )));
        }
        let commit = CommitSnapshotRequest {
            snapshotter: SNAPSHOTTER.to_string(),
            name: chain.to_string(),
            key: key.clone(),
            labels: HashMap::new(),
        };
        match ctrd
            .snapshots()
            .commit(ctrd.request_leased(commit, &lease.id))
            .await
        {
            Ok(_) => Ok(true),
            Err(s) if s.code() == Code::AlreadyExists => Ok(false),
            Err(s) => Err(s.into()),
        }
    }
    .await;
    match result {
        Ok(true) => Ok(()),
        other => {
            // Someone else committed the same chain, or we failed: drop our scratch snapshot.
            let remove = RemoveSnapshotRequest {
                snapshotter: SNAPSHOTTER.to_string(),
                key,
            };
            let _ = ctrd.snapshots().remove(ctrd.request(remove)).await;
            other.map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_spec() {
        let a = "sha256:a".to_string();
        let b = "sha256:b".to_string();
        let chains = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chains[0], a);
        let expected = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(b"sha256:a sha256:b"))
        );
        assert_eq!(chains[1], expected);
        assert!(chain_ids(&[]).is_empty());
    }
}
