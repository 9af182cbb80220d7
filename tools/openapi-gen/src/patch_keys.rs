//! The strategic-merge-patch extensions k8s-openapi leaves out: which lists merge by a
//! key (`x-kubernetes-patch-merge-key`) and how (`x-kubernetes-patch-strategy`), as the
//! `patchMergeKey`/`patchStrategy` tags of Kubernetes' API types declare them. kubectl
//! computes client-side apply patches from them.

use serde_json::Value;

use crate::Schemas;

const CORE: &str = "io.k8s.api.core.v1";
const APPS: &str = "io.k8s.api.apps.v1";
const BATCH: &str = "io.k8s.api.batch.v1";
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

/// (package, type, property, merge key or "", strategy).
const TAGS: &[(&str, &str, &str, &str, &str)] = &[
    (CORE, "PodSpec", "volumes", "name", "merge,retainKeys"),
    (CORE, "PodSpec", "initContainers", "name", "merge"),
    (CORE, "PodSpec", "containers", "name", "merge"),
    (CORE, "PodSpec", "ephemeralContainers", "name", "merge"),
    (CORE, "PodSpec", "imagePullSecrets", "name", "merge"),
    (CORE, "PodSpec", "hostAliases", "ip", "merge"),
    (
        CORE,
        "PodSpec",
        "topologySpreadConstraints",
        "topologyKey",
        "merge",
    ),
    (
        CORE,
        "PodSpec",
        "resourceClaims",
        "name",
        "merge,retainKeys",
    ),
    (CORE, "PodSpec", "schedulingGates", "name", "merge"),
    (CORE, "Container", "ports", "containerPort", "merge"),
    (CORE, "Container", "env", "name", "merge"),
    (CORE, "Container", "volumeMounts", "mountPath", "merge"),
    (CORE, "Container", "volumeDevices", "devicePath", "merge"),
    (
        CORE,
        "EphemeralContainer",
        "ports",
        "containerPort",
        "merge",
    ),
    (CORE, "EphemeralContainer", "env", "name", "merge"),
    (
        CORE,
        "EphemeralContainer",
        "volumeMounts",
        "mountPath",
        "merge",
    ),
    (
        CORE,
        "EphemeralContainer",
        "volumeDevices",
        "devicePath",
        "merge",
    ),
    (CORE, "PodStatus", "conditions", "type", "merge"),
    (CORE, "PodStatus", "podIPs", "ip", "merge"),
    (CORE, "PodStatus", "hostIPs", "ip", "merge"),
    (CORE, "ServiceSpec", "ports", "port", "merge"),
    (CORE, "ServiceStatus", "conditions", "type", "merge"),
    (CORE, "NodeSpec", "podCIDRs", "", "merge"),
    (CORE, "NodeStatus", "conditions", "type", "merge"),
    (CORE, "NodeStatus", "addresses", "type", "merge"),
    (CORE, "NamespaceStatus", "conditions", "type", "merge"),
    (
        CORE,
        "PersistentVolumeClaimStatus",
        "conditions",
        "type",
        "merge",
    ),
    (CORE, "ServiceAccount", "secrets", "name", "merge"),
    (APPS, "DeploymentSpec", "strategy", "", "retainKeys"),
    (APPS, "DeploymentStatus", "conditions", "type", "merge"),
    (APPS, "ReplicaSetStatus", "conditions", "type", "merge"),
    (APPS, "StatefulSetStatus", "conditions", "type", "merge"),
    (APPS, "DaemonSetStatus", "conditions", "type", "merge"),
    (BATCH, "JobStatus", "conditions", "type", "merge"),
    (META, "ObjectMeta", "finalizers", "", "merge"),
    (META, "ObjectMeta", "ownerReferences", "uid", "merge"),
];

/// Adds the extensions to the schemas present.
pub fn annotate(schemas: &mut Schemas) {
    for (package, ty, property, key, strategy) in TAGS {
        let Some(Value::Object(prop)) = schemas
            .get_mut(&format!("{package}.{ty}"))
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(*property))
        else {
            continue;
        };
        if !key.is_empty() {
            prop.insert("x-kubernetes-patch-merge-key".into(), (*key).into());
        }
        prop.insert("x-kubernetes-patch-strategy".into(), (*strategy).into());
    }
}
