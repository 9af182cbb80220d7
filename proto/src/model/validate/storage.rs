//! PersistentVolume, PersistentVolumeClaim and StorageClass rules, in the API server's
//! words. Volumes come only from `hostPath` and `local` (docs/architecture.md, Storage);
//! any other source is refused with its path and the supported list.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::workloads::validate_label_selector;
use super::{validate_dns1123_subdomain, FieldError};
use crate::model::parse_quantity;

const ACCESS_MODES: &[&str] = &[
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];
const RECLAIM_POLICIES: &[&str] = &["Delete", "Retain"];
const BINDING_MODES: &[&str] = &["Immediate", "WaitForFirstConsumer"];
const VOLUME_MODES: &[&str] = &["Filesystem"];
/// The volume sources skiff can mount.
const PV_SOURCES: &[&str] = &["hostPath", "local"];

/// A PersistentVolume's spec: capacity, access modes, exactly one supported source,
/// reclaim policy, class, node affinity for `local`.
pub fn validate_persistent_volume(pv: &PersistentVolume) -> Vec<FieldError> {
    let Some(spec) = &pv.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errors = Vec::new();
    errors.extend(validate_storage(
        "spec.capacity",
        "spec.capacity",
        spec.capacity.as_ref(),
    ));
    errors.extend(validate_access_modes(
        "spec.accessModes",
        spec.access_modes.as_deref(),
    ));
    if let Some(policy) = spec.persistent_volume_reclaim_policy.as_deref() {
        if !RECLAIM_POLICIES.contains(&policy) {
            errors.push(FieldError::unsupported(
                "spec.persistentVolumeReclaimPolicy",
                policy,
                RECLAIM_POLICIES,
            ));
        }
    }
    errors.extend(validate_class(
        "spec.storageClassName",
        &spec.storage_class_name,
    ));
    errors.extend(validate_volume_mode("spec.volumeMode", &spec.volume_mode));

    // Every source the type knows, by its manifest name: the supported ones and the rest.
    let value = serde_json::to_value(spec).unwrap_or_default();
    let known_fields = [
        "accessModes",
        "capacity",
        "claimRef",
        "mountOptions",
        "nodeAffinity",
        "persistentVolumeReclaimPolicy",
        "storageClassName",
        "volumeAttributesClassName",
        "volumeMode",
    ];
    let sources: Vec<&str> = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, _)| key.as_str())
        .filter(|key| !known_fields.contains(key))
        .collect();
    for source in sources.iter().filter(|s| !PV_SOURCES.contains(s)) {
        errors.push(super::volumes::unsupported_type(
            &format!("spec.{source}"),
            source,
            PV_SOURCES,
        ));
    }
    match sources.as_slice() {
        [] => errors.push(FieldError::required("spec", "must specify a volume type")),
        [_] => {}
        [_, more @ ..] => errors.push(FieldError::forbidden(
            &format!("spec.{}", more[0]),
            "may not specify more than 1 volume type",
        )),
    }
    if let Some(host_path) = &spec.host_path {
        errors.extend(validate_path("spec.hostPath.path", &host_path.path));
    }
    if let Some(local) = &spec.local {
        errors.extend(validate_path("spec.local.path", &local.path));
        if spec
            .node_affinity
            .as_ref()
            .and_then(|a| a.required.as_ref())
            .is_none()
        {
            errors.push(FieldError::required(
                "spec.nodeAffinity",
                "Local volume requires node affinity",
            ));
        }
    }
    errors
}

/// A claim's spec: access modes, a storage request, the selector and class.
pub fn validate_persistent_volume_claim(pvc: &PersistentVolumeClaim) -> Vec<FieldError> {
    let Some(spec) = &pvc.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errors = validate_access_modes("spec.accessModes", spec.access_modes.as_deref());
    let requests = spec.resources.as_ref().and_then(|r| r.requests.as_ref());
    errors.extend(validate_storage(
        "spec.resources[storage]",
        "spec.resources.requests",
        requests,
    ));
    if let Some(selector) = &spec.selector {
        errors.extend(validate_label_selector("spec.selector", selector));
    }
    errors.extend(validate_class(
        "spec.storageClassName",
        &spec.storage_class_name,
    ));
    errors.extend(validate_volume_mode("spec.volumeMode", &spec.volume_mode));
    errors
}

/// A StorageClass: a provisioner, a known reclaim policy and binding mode.
pub fn validate_storage_class(class: &StorageClass) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if class.provisioner.is_empty() {
        errors.push(FieldError::required("provisioner", ""));
    }
    if let Some(policy) = class.reclaim_policy.as_deref() {
        if !RECLAIM_POLICIES.contains(&policy) {
            errors.push(FieldError::unsupported(
                "reclaimPolicy",
                policy,
                RECLAIM_POLICIES,
            ));
        }
    }
    if let Some(mode) = class.volume_binding_mode.as_deref() {
        if !BINDING_MODES.contains(&mode) {
            errors.push(FieldError::unsupported(
                "volumeBindingMode",
                mode,
                BINDING_MODES,
            ));
        }
    }
    errors
}

/// `storage` must be the one resource, a positive quantity. `required_at` names the
/// field when it is missing (Kubernetes says `spec.resources[storage]` for claims).
fn validate_storage(
    required_at: &str,
    path: &str,
    resources: Option<&BTreeMap<String, Quantity>>,
) -> Vec<FieldError> {
    let resources = resources.cloned().unwrap_or_default();
    let mut errors = Vec::new();
    for name in resources.keys().filter(|k| *k != "storage") {
        errors.push(FieldError::unsupported(
            &format!("{path}[{name}]"),
            name,
            &["storage"],
        ));
    }
    match resources.get("storage") {
        None => errors.push(FieldError::required(required_at, "")),
        Some(quantity) => match parse_quantity(&quantity.0) {
            Ok(milli) if milli > 0 => {}
            Ok(_) => errors.push(FieldError::invalid(
                &format!("{path}[storage]"),
                quantity.0.as_str(),
                "must be greater than zero",
            )),
            Err(e) => errors.push(FieldError::invalid(
                &format!("{path}[storage]"),
                quantity.0.as_str(),
                e,
            )),
        },
    }
    errors
}

fn validate_access_modes(path: &str, modes: Option<&[String]>) -> Vec<FieldError> {
    let modes = modes.unwrap_or_default();
    if modes.is_empty() {
        return vec![FieldError::required(
            path,
            "at least 1 access mode is required",
        )];
    }
    let mut errors: Vec<FieldError> = modes
        .iter()
        .filter(|m| !ACCESS_MODES.contains(&m.as_str()))
        .map(|m| FieldError::unsupported(path, m, ACCESS_MODES))
        .collect();
    if modes.len() > 1 && modes.iter().any(|m| m == "ReadWriteOncePod") {
        errors.push(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    errors
}

fn validate_class(path: &str, class: &Option<String>) -> Vec<FieldError> {
    match class.as_deref() {
        Some(name) if !name.is_empty() => validate_dns1123_subdomain(path, name),
        _ => Vec::new(),
    }
}

fn validate_volume_mode(path: &str, mode: &Option<String>) -> Vec<FieldError> {
    match mode.as_deref() {
        Some(mode) if !VOLUME_MODES.contains(&mode) => {
            vec![FieldError::unsupported(path, mode, VOLUME_MODES)]
        }
        _ => Vec::new(),
    }
}

fn validate_path(path: &str, value: &str) -> Vec<FieldError> {
    if value.is_empty() {
        vec![FieldError::required(path, "")]
    } else if !value.starts_with('/') {
        vec![FieldError::invalid(path, value, "must be an absolute path")]
    } else if value.split('/').any(|part| part == "..") {
        vec![FieldError::invalid(path, value, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{decode_documents, default_object, validate_object};

    /// The error lines of a manifest after defaulting, or none.
    fn errors(yaml: &str) -> Vec<String> {
        let mut object = decode_documents("t.yaml", yaml).unwrap().remove(0);
        default_object(&mut object);
        match validate_object(&object) {
            Ok(()) => vec![],
            Err(e) => e.errors.iter().map(ToString::to_string).collect(),
        }
    }

    const PV: &str = "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: pv1\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n";

    #[test]
    fn host_path_and_local_volumes_are_valid() {
        assert!(errors(&format!("{PV}  hostPath: {{path: /srv/data}}\n")).is_empty());
        let local = format!("{PV}  local: {{path: /mnt/disk}}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {{key: kubernetes.io/hostname, operator: In, values: [n1]}}\n");
        assert!(errors(&local).is_empty(), "{:?}", errors(&local));
    }

    #[test]
    fn other_volume_sources_are_refused_with_the_supported_list() {
        let errors = errors(&format!("{PV}  nfs: {{server: nfs.example, path: /x}}\n"));
        assert_eq!(
            errors,
            vec![
                r#"spec.nfs: Forbidden: volume type "nfs" is not supported by skiff (supported: hostPath, local)"#,
            ]
        );
    }

    #[test]
    fn a_volume_needs_a_source_capacity_and_access_modes() {
        let errors = errors("apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: pv1\nspec:\n  capacity: {storage: \"0\"}\n");
        assert!(
            errors.contains(
                &"spec.capacity[storage]: Invalid value: \"0\": must be greater than zero"
                    .to_string()
            ),
            "{errors:?}"
        );
        assert!(
            errors.contains(
                &"spec.accessModes: Required value: at least 1 access mode is required".to_string()
            ),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"spec: Required value: must specify a volume type".to_string()),
            "{errors:?}"
        );
    }

    #[test]
    fn local_volumes_need_node_affinity() {
        let errors = errors(&format!("{PV}  local: {{path: /mnt/disk}}\n"));
        assert_eq!(
            errors,
            vec!["spec.nodeAffinity: Required value: Local volume requires node affinity"]
        );
    }

    #[test]
    fn claims_need_a_storage_request_and_known_access_modes() {
        let errors = errors("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteSometimes]\n");
        assert!(
            errors
                .iter()
                .any(|e| e
                    .starts_with("spec.accessModes: Unsupported value: \"ReadWriteSometimes\"")),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"spec.resources[storage]: Required value".to_string()),
            "{errors:?}"
        );
    }

    #[test]
    fn storage_classes_need_a_provisioner_and_known_modes() {
        let errors = errors("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast\nprovisioner: \"\"\nvolumeBindingMode: Later\n");
        assert!(
            errors.contains(&"provisioner: Required value".to_string()),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("volumeBindingMode: Unsupported value: \"Later\"")),
            "{errors:?}"
        );
    }

    #[test]
    fn defaults_fill_reclaim_policy_binding_mode_and_volume_mode() {
        let mut pv = decode_documents("t", &format!("{PV}  hostPath: {{path: /srv}}\n"))
            .unwrap()
            .remove(0);
        default_object(&mut pv);
        let value = pv.to_json_value();
        assert_eq!(value["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(value["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pv.namespace(), "");
        let mut sc = decode_documents("t", "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast\nprovisioner: x\n").unwrap().remove(0);
        default_object(&mut sc);
        let value = sc.to_json_value();
        assert_eq!(
            (
                value["reclaimPolicy"].as_str(),
                value["volumeBindingMode"].as_str()
            ),
            (Some("Delete"), Some("Immediate"))
        );
    }
}
