//! kubectl's columns for PersistentVolumes, PersistentVolumeClaims and StorageClasses.

use serde_json::Value;
use skiff_proto::storage::IS_DEFAULT_CLASS;

use super::tables::{age_at, s};

pub const PV_HEADER: &[&str] = &[
    "NAME",
    "CAPACITY",
    "ACCESS MODES",
    "RECLAIM POLICY",
    "STATUS",
    "CLAIM",
    "STORAGECLASS",
    "VOLUMEATTRIBUTESCLASS",
    "REASON",
    "AGE",
];
pub const PVC_HEADER: &[&str] = &[
    "NAME",
    "STATUS",
    "VOLUME",
    "CAPACITY",
    "ACCESS MODES",
    "STORAGECLASS",
    "VOLUMEATTRIBUTESCLASS",
    "AGE",
];
pub const SC_HEADER: &[&str] = &[
    "NAME",
    "PROVISIONER",
    "RECLAIMPOLICY",
    "VOLUMEBINDINGMODE",
    "ALLOWVOLUMEEXPANSION",
    "AGE",
];

/// `RWO,RWX`: access modes as kubectl abbreviates them.
pub fn access_modes(o: &Value, ptr: &str) -> String {
    let modes = o.pointer(ptr).and_then(Value::as_array);
    modes
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The phase, or `Terminating` once deletion has begun (a protected object waits).
pub fn status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    s(o, "/status/phase")
}

fn attributes_class(o: &Value, ptr: &str) -> String {
    match s(o, ptr) {
        class if class.is_empty() => "<unset>".into(),
        class => class,
    }
}

pub fn pv_row(o: &Value) -> Vec<String> {
    let claim = match s(o, "/spec/claimRef/name") {
        name if name.is_empty() => String::new(),
        name => format!("{}/{name}", s(o, "/spec/claimRef/namespace")),
    };
    vec![
        s(o, "/metadata/name"),
        s(o, "/spec/capacity/storage"),
        access_modes(o, "/spec/accessModes"),
        s(o, "/spec/persistentVolumeReclaimPolicy"),
        status(o),
        claim,
        s(o, "/spec/storageClassName"),
        attributes_class(o, "/spec/volumeAttributesClassName"),
        s(o, "/status/reason"),
        age_at(o, "/metadata/creationTimestamp"),
    ]
}

pub fn pvc_row(o: &Value) -> Vec<String> {
    vec![
        s(o, "/metadata/name"),
        status(o),
        s(o, "/spec/volumeName"),
        s(o, "/status/capacity/storage"),
        access_modes(o, "/status/accessModes"),
        s(o, "/spec/storageClassName"),
        attributes_class(o, "/status/currentVolumeAttributesClassName"),
        age_at(o, "/metadata/creationTimestamp"),
    ]
}

/// Whether the class is marked default (`(default)` follows its name).
pub fn is_default_class(o: &Value) -> bool {
    o.pointer("/metadata/annotations")
        .and_then(|a| a.get(IS_DEFAULT_CLASS))
        .and_then(Value::as_str)
        == Some("true")
}

pub fn sc_row(o: &Value) -> Vec<String> {
    let mut name = s(o, "/metadata/name");
    if is_default_class(o) {
        name.push_str(" (default)");
    }
    let expansion = o
        .get("allowVolumeExpansion")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    vec![
        name,
        s(o, "/provisioner"),
        s(o, "/reclaimPolicy"),
        s(o, "/volumeBindingMode"),
        expansion.to_string(),
        age_at(o, "/metadata/creationTimestamp"),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn volume_claim_and_class_rows_read_as_kubectl() {
        let pv = json!({"metadata": {"name": "pvc-1"}, "spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce", "ReadOnlyMany"], "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"namespace": "default", "name": "data"}, "storageClassName": "local-path"},
            "status": {"phase": "Bound"}});
        let row = pv_row(&pv);
        assert_eq!(
            row[..9],
            [
                "pvc-1",
                "1Gi",
                "RWO,ROX",
                "Delete",
                "Bound",
                "default/data",
                "local-path",
                "<unset>",
                ""
            ]
        );
        let pvc = json!({"metadata": {"name": "data", "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"volumeName": "pvc-1", "storageClassName": "local-path"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}});
        assert_eq!(
            pvc_row(&pvc)[..7],
            [
                "data",
                "Terminating",
                "pvc-1",
                "1Gi",
                "RWO",
                "local-path",
                "<unset>"
            ]
        );
        let sc = json!({"metadata": {"name": "local-path", "annotations": {IS_DEFAULT_CLASS: "true"}},
            "provisioner": "skiff.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"});
        assert_eq!(
            sc_row(&sc)[..5],
            [
                "local-path (default)",
                "skiff.io/local-path",
                "Delete",
                "WaitForFirstConsumer",
                "false"
            ]
        );
    }
}
