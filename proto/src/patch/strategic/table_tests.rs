//! The merge metadata table against the Go struct tags it transcribes.

use serde_json::json;

use super::{apply, field_strategy, supports, Strategy};
use crate::patch::PatchError;

#[test]
fn kinds_without_merge_metadata_are_unsupported() {
    assert_eq!(
        apply(&json!({}), b"{}", "Widget"),
        Err(PatchError::UnsupportedKind {
            kind: "Widget".into()
        })
    );
    assert_eq!(
        PatchError::UnsupportedKind {
            kind: "Widget".into()
        }
        .to_string(),
        "strategic merge patch format is not supported"
    );
}

#[test]
fn every_served_kind_is_supported() {
    for row in crate::kinds::KINDS {
        assert!(supports(row.kind), "{}", row.kind);
    }
    assert!(supports("ServiceAccount") && supports("EndpointSlice") && supports("Scale"));
}

/// Every field with a `patchStrategy` tag in kubernetes/api v0.33 on the paths of the
/// kinds skiff serves.
#[test]
fn the_table_has_every_tagged_field_of_the_served_kinds() {
    let merge = |key| Strategy {
        merge: true,
        retain_keys: false,
        merge_key: Some(key),
    };
    let merge_retain = |key| Strategy {
        merge: true,
        retain_keys: true,
        merge_key: Some(key),
    };
    let scalars = Strategy {
        merge: true,
        retain_keys: false,
        merge_key: None,
    };
    let retain = Strategy {
        merge: false,
        retain_keys: true,
        merge_key: None,
    };
    let container_fields = [
        ("ports", merge("containerPort")),
        ("env", merge("name")),
        ("volumeMounts", merge("mountPath")),
        ("volumeDevices", merge("devicePath")),
    ];
    let mut expected: Vec<(&str, Vec<&str>, Strategy)> = Vec::new();
    let pod_spec_paths: &[(&str, &[&str])] = &[
        ("Pod", &["spec"]),
        ("Deployment", &["spec", "template", "spec"]),
        ("ReplicaSet", &["spec", "template", "spec"]),
        ("DaemonSet", &["spec", "template", "spec"]),
        ("StatefulSet", &["spec", "template", "spec"]),
        ("Job", &["spec", "template", "spec"]),
        (
            "CronJob",
            &["spec", "jobTemplate", "spec", "template", "spec"],
        ),
    ];
    for (kind, prefix) in pod_spec_paths {
        let at = |rest: &[&'static str]| [prefix.to_vec(), rest.to_vec()].concat();
        expected.push((kind, at(&["volumes"]), merge_retain("name")));
        expected.push((kind, at(&["imagePullSecrets"]), merge("name")));
        expected.push((kind, at(&["hostAliases"]), merge("ip")));
        expected.push((
            kind,
            at(&["topologySpreadConstraints"]),
            merge("topologyKey"),
        ));
        expected.push((kind, at(&["schedulingGates"]), merge("name")));
        expected.push((kind, at(&["resourceClaims"]), merge_retain("name")));
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            expected.push((kind, at(&[list]), merge("name")));
            for (field, strategy) in container_fields {
                expected.push((kind, at(&[list, field]), strategy));
            }
        }
        let mut template_meta = prefix.to_vec();
        template_meta.pop();
        if !template_meta.is_empty() {
            template_meta.push("metadata");
            let mut owners = template_meta.clone();
            owners.push("ownerReferences");
            expected.push((kind, owners, merge("uid")));
        }
    }
    for kind in crate::kinds::KINDS
        .iter()
        .map(|k| k.kind)
        .chain(["ServiceAccount", "EndpointSlice"])
    {
        expected.push((kind, vec!["metadata", "ownerReferences"], merge("uid")));
        expected.push((kind, vec!["metadata", "finalizers"], scalars));
    }
    for kind in [
        "Deployment",
        "ReplicaSet",
        "DaemonSet",
        "StatefulSet",
        "Job",
        "Service",
        "Namespace",
        "PersistentVolumeClaim",
        "Node",
        "Pod",
    ] {
        expected.push((kind, vec!["status", "conditions"], merge("type")));
    }
    expected.extend([
        ("Pod", vec!["status", "hostIPs"], merge("ip")),
        ("Pod", vec!["status", "podIPs"], merge("ip")),
        (
            "Pod",
            vec!["status", "resourceClaimStatuses"],
            merge_retain("name"),
        ),
        ("Deployment", vec!["spec", "strategy"], retain),
        ("Service", vec!["spec", "ports"], merge("port")),
        ("ServiceAccount", vec!["secrets"], merge("name")),
        ("Node", vec!["spec", "podCIDRs"], scalars),
        ("Node", vec!["status", "addresses"], merge("type")),
    ]);
    for (kind, path, strategy) in expected {
        assert_eq!(
            field_strategy(kind, &path),
            Some(strategy),
            "{kind} {path:?}"
        );
    }
    // Untagged lists are atomic.
    let atomic = Strategy {
        merge: false,
        retain_keys: false,
        merge_key: None,
    };
    assert_eq!(
        field_strategy("Pod", &["spec", "tolerations"]),
        Some(atomic)
    );
    assert_eq!(field_strategy("Node", &["spec", "taints"]), Some(atomic));
    assert_eq!(field_strategy("Endpoints", &["subsets"]), Some(atomic));
    assert_eq!(
        field_strategy("StatefulSet", &["spec", "volumeClaimTemplates"]),
        Some(atomic)
    );
    assert_eq!(field_strategy("Widget", &["spec"]), None);
}
