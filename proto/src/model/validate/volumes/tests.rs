//! Volume sources skiff mounts are accepted; the rest are refused with their path.

use crate::model::decode_documents;
use crate::model::validate::validate_object;

/// The errors of a manifest (strict-clean YAML), one line each.
fn errors(yaml: &str) -> Vec<String> {
    let object = decode_documents("test.yaml", yaml).unwrap().remove(0);
    match validate_object(&object) {
        Ok(()) => Vec::new(),
        Err(error) => error.errors.iter().map(ToString::to_string).collect(),
    }
}

fn pod_with_volumes(volumes: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - {{name: a, image: i}}\n  volumes:\n{volumes}"
    )
}

#[test]
fn every_supported_source_is_accepted() {
    let yaml = pod_with_volumes(
        "  - {name: a, configMap: {name: cm}}\n  - {name: b, secret: {secretName: s}}\n  - {name: c, emptyDir: {medium: Memory}}\n  - {name: d, hostPath: {path: /var/data, type: DirectoryOrCreate}}\n  - {name: e, downwardAPI: {items: [{path: n, fieldRef: {fieldPath: metadata.name}}]}}\n  - name: f\n    projected:\n      sources:\n      - configMap: {name: cm}\n      - secret: {name: s}\n      - downwardAPI: {items: []}\n  - {name: g, persistentVolumeClaim: {claimName: data}}\n  - {name: h}\n",
    );
    assert_eq!(errors(&yaml), Vec::<String>::new());
}

#[test]
fn unsupported_sources_are_refused_with_the_path_and_the_supported_list() {
    let yaml = pod_with_volumes(
        "  - {name: a, nfs: {server: 10.0.0.1, path: /export}}\n  - {name: b, csi: {driver: x}}\n  - {name: c, iscsi: {targetPortal: 'a:3260', iqn: 'iqn.x', lun: 0}}\n",
    );
    let errors = errors(&yaml);
    let supported = "(supported: configMap, downwardAPI, emptyDir, hostPath, persistentVolumeClaim, projected, secret)";
    assert_eq!(
        errors,
        [
            format!("spec.volumes[0].nfs: Forbidden: volume type \"nfs\" is not supported by skiff {supported}"),
            format!("spec.volumes[1].csi: Forbidden: volume type \"csi\" is not supported by skiff {supported}"),
            format!("spec.volumes[2].iscsi: Forbidden: volume type \"iscsi\" is not supported by skiff {supported}"),
        ]
    );
}

#[test]
fn workload_templates_share_the_rules() {
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: a, image: i}\n      volumes:\n      - {name: a, awsElasticBlockStore: {volumeID: vol-1}}\n";
    let errors = errors(yaml);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "spec.template.spec.volumes[0].awsElasticBlockStore: Forbidden: volume type \"awsElasticBlockStore\" is not supported"
        ),
        "{errors:?}"
    );
}

#[test]
fn projected_sources_host_path_types_and_names_are_checked() {
    let yaml = pod_with_volumes(
        "  - name: a\n    projected:\n      sources:\n      - clusterTrustBundle: {path: b, signerName: x}\n      - configMap: {}\n  - {name: b, hostPath: {path: /var/../etc, type: Folder}}\n  - {name: c, hostPath: {path: ''}}\n  - {name: d, configMap: {}}\n  - {name: e, secret: {}}\n  - {name: f, persistentVolumeClaim: {claimName: ''}}\n",
    );
    let errors = errors(&yaml);
    let expected = [
        "spec.volumes[0].projected.sources[0].clusterTrustBundle: Forbidden: volume type \"clusterTrustBundle\" is not supported by skiff (supported: configMap, downwardAPI, secret)",
        "spec.volumes[0].projected.sources[1].configMap.name: Required value",
        "spec.volumes[1].hostPath.path: Invalid value: \"/var/../etc\": must not contain '..'",
        "spec.volumes[1].hostPath.type: Unsupported value: \"Folder\": supported values: \"DirectoryOrCreate\", \"Directory\", \"FileOrCreate\", \"File\", \"Socket\", \"CharDevice\", \"BlockDevice\"",
        "spec.volumes[2].hostPath.path: Required value",
        "spec.volumes[3].configMap.name: Required value",
        "spec.volumes[4].secret.secretName: Required value",
        "spec.volumes[5].persistentVolumeClaim.claimName: Required value",
    ];
    assert_eq!(errors, expected);
}

#[test]
fn downward_items_tokens_sub_paths_and_propagation_are_checked() {
    let yaml = pod_with_volumes(
        "  - name: a\n    downwardAPI:\n      items:\n      - {path: ip, fieldRef: {fieldPath: status.podIP}}\n      - {path: l, fieldRef: {fieldPath: \"metadata.labels['app']\"}}\n      - {path: m, resourceFieldRef: {resource: limits.memory}}\n  - name: b\n    projected:\n      sources:\n      - serviceAccountToken: {path: token}\n      - serviceAccountToken: {path: /abs, expirationSeconds: 60}\n      - serviceAccountToken: {audience: vault, expirationSeconds: 5000000000}\n",
    )
    .replace(
        "  - {name: a, image: i}\n",
        "  - name: a\n    image: i\n    volumeMounts:\n    - {name: a, mountPath: /a, subPath: ../x}\n    - {name: a, mountPath: /b, subPath: x, subPathExpr: $(Y)}\n    - {name: a, mountPath: /c, mountPropagation: Bidirectional}\n",
    );
    let errors = errors(&yaml);
    let expected = [
        "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: \"status.podIP\": supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\"",
        "spec.volumes[0].downwardAPI.items[2].resourceFieldRef.containerName: Required value",
        "spec.volumes[1].projected.sources[1].serviceAccountToken.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
        "spec.volumes[1].projected.sources[1].serviceAccountToken.path: Invalid value: \"/abs\": must be a relative path",
        "spec.volumes[1].projected.sources[2].serviceAccountToken.expirationSeconds: Invalid value: 5000000000: may not specify a duration larger than 2^32 seconds",
        "spec.volumes[1].projected.sources[2].serviceAccountToken.path: Required value",
        "spec.containers[0].volumeMounts[0].subPath: Invalid value: \"../x\": must not contain '..'",
        "spec.containers[0].volumeMounts[1].subPathExpr: Invalid value: \"$(Y)\": subPathExpr and subPath are mutually exclusive",
        "spec.containers[0].volumeMounts[2].mountPropagation: Unsupported value: \"Bidirectional\": supported values: \"None\" (skiff mounts volumes with private propagation only)",
    ];
    assert_eq!(errors, expected);
}
