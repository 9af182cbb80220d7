//! Storage defaults as the API server's: volumeMode Filesystem, a static volume's
//! reclaim policy Retain, a class's Delete and Immediate binding. A claim's default
//! class is admission's (it needs the stored classes), in the control plane.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use super::set;

pub(super) fn default_persistent_volume(pv: &mut PersistentVolume) {
    let spec = pv.spec.get_or_insert_with(Default::default);
    set(&mut spec.persistent_volume_reclaim_policy, "Retain");
    set(&mut spec.volume_mode, "Filesystem");
    if let Some(host_path) = spec.host_path.as_mut() {
        // An unset type is "" (no check) in Kubernetes, and stays so.
        host_path.type_.get_or_insert_with(String::new);
    }
}

pub(super) fn default_persistent_volume_claim(pvc: &mut PersistentVolumeClaim) {
    let spec = pvc.spec.get_or_insert_with(Default::default);
    set(&mut spec.volume_mode, "Filesystem");
}

pub(super) fn default_storage_class(class: &mut StorageClass) {
    set(&mut class.reclaim_policy, "Delete");
    set(&mut class.volume_binding_mode, "Immediate");
}
