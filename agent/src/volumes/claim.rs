//! A `persistentVolumeClaim` volume: the claim, then the PersistentVolume it is bound
//! to, both read through `PodObjects`; the volume's directory on this node is
//! bind-mounted as it is. Local-path volumes (hostPath `DirectoryOrCreate`) are made on
//! first use (mode 0777, as k3s' local-path makes them); `local` volumes must exist.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use skiff_proto::storage::{LOCAL_PATH_PROVISIONER, PROVISIONED_BY};

use super::host_path::check_type;
use crate::objects::{get_typed, PodObjects};

/// The host directory of the claim's volume.
pub async fn claim_path(
    objects: &dyn PodObjects,
    namespace: &str,
    claim_name: &str,
) -> Result<PathBuf, String> {
    let claim: PersistentVolumeClaim =
        get_typed(objects, "PersistentVolumeClaim", namespace, claim_name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("persistentvolumeclaim {claim_name:?} not found"))?;
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .filter(|v| !v.is_empty());
    let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
    let Some(volume_name) = volume_name.filter(|_| phase.is_none_or(|p| p == "Bound")) else {
        return Err(format!(
            "persistentvolumeclaim {claim_name:?} is not bound (phase {})",
            phase.unwrap_or("Pending")
        ));
    };
    let pv: PersistentVolume = get_typed(objects, "PersistentVolume", "", &volume_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("persistentvolume {volume_name:?} not found"))?;
    let provisioned = pv
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PROVISIONED_BY))
        .is_some_and(|p| p == LOCAL_PATH_PROVISIONER);
    let spec = pv.spec.unwrap_or_default();
    if let Some(hp) = spec.host_path {
        let path = PathBuf::from(&hp.path);
        let existed = path.exists();
        check_type(&path, hp.type_.as_deref())?;
        if provisioned && !existed {
            // Writable by whatever user the pod runs as, as k3s' local-path makes them.
            fs::set_permissions(&path, fs::Permissions::from_mode(0o777))
                .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        }
        return Ok(path);
    }
    if let Some(local) = spec.local {
        let path = PathBuf::from(&local.path);
        if !path.exists() {
            return Err(format!(
                "persistentvolume {volume_name:?}: local path {} does not exist",
                path.display()
            ));
        }
        return Ok(path);
    }
    Err(format!(
        "persistentvolume {volume_name:?} is neither hostPath nor local: skiff cannot mount it"
    ))
}
