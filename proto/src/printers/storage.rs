//! PersistentVolumes, PersistentVolumeClaims and StorageClasses.

use jiff::Timestamp;
use serde_json::Value;

use super::age::age;
use super::fields::{is_set, items, or, text};
use super::{docs, Column};

pub const VOLUME: &[Column] = &[
    Column::name(),
    Column::text("Capacity", docs::PV_CAPACITY),
    Column::text("Access Modes", docs::PV_ACCESS_MODES),
    Column::text("Reclaim Policy", docs::PV_RECLAIM),
    Column::text("Status", docs::PV_PHASE),
    Column::text("Claim", docs::PV_CLAIM),
    Column::text("StorageClass", "StorageClass of the pv"),
    Column::text("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
    Column::text("Reason", docs::PV_REASON),
    Column::age(),
    Column::text("VolumeMode", docs::PV_VOLUME_MODE).wide(),
];

pub const CLAIM: &[Column] = &[
    Column::name(),
    Column::text("Status", docs::PVC_PHASE),
    Column::text("Volume", docs::PVC_VOLUME_NAME),
    Column::text("Capacity", docs::PVC_CAPACITY),
    Column::text("Access Modes", docs::PVC_ACCESS_MODES),
    Column::text("StorageClass", "StorageClass of the pvc"),
    Column::text("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
    Column::age(),
    Column::text("VolumeMode", docs::PVC_VOLUME_MODE).wide(),
];

pub const CLASS: &[Column] = &[
    Column::name(),
    Column::text("Provisioner", docs::SC_PROVISIONER),
    Column::text("ReclaimPolicy", docs::SC_RECLAIM),
    Column::text("VolumeBindingMode", docs::SC_BINDING_MODE),
    Column::text("AllowVolumeExpansion", docs::SC_EXPANSION),
    Column::age(),
];

/// The annotation that named a class before `storageClassName` existed; it still wins.
const BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
/// The annotations that mark a StorageClass default.
const DEFAULT_CLASS: [&str; 2] = [
    crate::storage::IS_DEFAULT_CLASS,
    "storageclass.beta.kubernetes.io/is-default-class",
];

/// `RWO,ROX,RWX,RWOP`: the modes present, always in that order.
pub fn access_modes(o: &Value, ptr: &str) -> String {
    let modes: Vec<&str> = items(o, ptr).filter_map(Value::as_str).collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The phase, or `Terminating` once deletion has begun (a protected object waits).
pub fn phase(o: &Value) -> String {
    match is_set(o, "/metadata/deletionTimestamp") {
        true => "Terminating".into(),
        false => text(o, "/status/phase"),
    }
}

/// The class named by the beta annotation, else by `spec.storageClassName`.
fn class_name(o: &Value) -> String {
    match o
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(BETA_CLASS))
    {
        Some(Value::String(class)) => class.clone(),
        _ => text(o, "/spec/storageClassName"),
    }
}

/// A field that reads `<unset>` when absent.
fn or_unset(o: &Value, ptr: &str) -> Value {
    match o.pointer(ptr) {
        Some(Value::String(v)) => v.clone().into(),
        _ => "<unset>".into(),
    }
}

pub fn volume(o: &Value, now: Timestamp) -> Vec<Value> {
    let claim = match o.pointer("/spec/claimRef") {
        Some(claim) if claim.is_object() => {
            format!("{}/{}", text(claim, "/namespace"), text(claim, "/name"))
        }
        _ => String::new(),
    };
    vec![
        text(o, "/metadata/name").into(),
        text(o, "/spec/capacity/storage").into(),
        access_modes(o, "/spec/accessModes").into(),
        text(o, "/spec/persistentVolumeReclaimPolicy").into(),
        phase(o).into(),
        claim.into(),
        class_name(o).into(),
        or_unset(o, "/spec/volumeAttributesClassName"),
        text(o, "/status/reason").into(),
        age(o, now),
        or_unset(o, "/spec/volumeMode"),
    ]
}

pub fn claim(o: &Value, now: Timestamp) -> Vec<Value> {
    // Capacity and access modes are the bound volume's: none before binding.
    let bound = !text(o, "/spec/volumeName").is_empty();
    let (capacity, modes) = match bound {
        true => (
            text(o, "/status/capacity/storage"),
            access_modes(o, "/status/accessModes"),
        ),
        false => (String::new(), String::new()),
    };
    vec![
        text(o, "/metadata/name").into(),
        phase(o).into(),
        text(o, "/spec/volumeName").into(),
        capacity.into(),
        modes.into(),
        class_name(o).into(),
        or_unset(o, "/spec/volumeAttributesClassName"),
        age(o, now),
        or_unset(o, "/spec/volumeMode"),
    ]
}

/// Whether the class is marked default (`(default)` follows its name).
pub fn is_default_class(o: &Value) -> bool {
    let annotations = o.pointer("/metadata/annotations");
    DEFAULT_CLASS.iter().any(|key| {
        annotations
            .and_then(|a| a.get(*key))
            .and_then(Value::as_str)
            == Some("true")
    })
}

pub fn class(o: &Value, now: Timestamp) -> Vec<Value> {
    let mut name = text(o, "/metadata/name");
    if is_default_class(o) {
        name.push_str(" (default)");
    }
    let expansion = o
        .get("allowVolumeExpansion")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    vec![
        name.into(),
        text(o, "/provisioner").into(),
        or(text(o, "/reclaimPolicy"), "Delete").into(),
        or(text(o, "/volumeBindingMode"), "Immediate").into(),
        expansion.into(),
        age(o, now),
    ]
}
