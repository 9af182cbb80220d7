use serde_json::json;

use super::{ago, row};
use crate::storage::IS_DEFAULT_CLASS;

#[test]
fn volumes_show_capacity_modes_claim_and_class() {
    let pv = json!({"metadata": {"name": "pvc-1", "creationTimestamp": ago(60)},
        "spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadOnlyMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"namespace": "default", "name": "data"}, "storageClassName": "local-path",
            "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}});
    assert_eq!(
        row("PersistentVolume", &pv),
        [
            "pvc-1",
            "1Gi",
            "RWO,ROX,RWX",
            "Delete",
            "Bound",
            "default/data",
            "local-path",
            "<unset>",
            "",
            "60s",
            "Filesystem"
        ]
    );
    let mut annotated = pv.clone();
    annotated["metadata"]["annotations"] =
        json!({"volume.beta.kubernetes.io/storage-class": "old-class"});
    annotated["metadata"]["deletionTimestamp"] = ago(1).into();
    let r = row("PersistentVolume", &annotated);
    assert_eq!((r[4].as_str(), r[6].as_str()), ("Terminating", "old-class"));
}

#[test]
fn claims_show_the_bound_volumes_capacity_and_modes() {
    let pvc = json!({"metadata": {"name": "data", "creationTimestamp": ago(60)},
        "spec": {"volumeName": "pvc-1", "storageClassName": "local-path",
                 "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"]}});
    assert_eq!(
        row("PersistentVolumeClaim", &pvc),
        [
            "data",
            "Bound",
            "pvc-1",
            "2Gi",
            "RWO",
            "local-path",
            "<unset>",
            "60s",
            "<unset>"
        ]
    );
    let pending = json!({"metadata": {"name": "data"},
        "spec": {"storageClassName": "local-path", "volumeAttributesClassName": "fast"},
        "status": {"phase": "Pending", "accessModes": ["ReadWriteOnce"]}});
    assert_eq!(
        row("PersistentVolumeClaim", &pending)[..7],
        ["data", "Pending", "", "", "", "local-path", "fast"]
    );
}

#[test]
fn classes_show_their_defaults() {
    let sc = json!({"metadata": {"name": "local-path", "annotations": {IS_DEFAULT_CLASS: "true"}},
        "provisioner": "skiff.io/local-path", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": true});
    assert_eq!(
        row("StorageClass", &sc)[..5],
        [
            "local-path (default)",
            "skiff.io/local-path",
            "Retain",
            "WaitForFirstConsumer",
            "true"
        ]
    );
    let plain = json!({"metadata": {"name": "slow"}, "provisioner": "x"});
    assert_eq!(
        row("StorageClass", &plain)[..5],
        ["slow", "x", "Delete", "Immediate", "false"]
    );
}
