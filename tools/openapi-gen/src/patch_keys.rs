//! The strategic-merge-patch extensions k8s-openapi leaves out: which lists merge by a
//! key (`x-kubernetes-patch-merge-key`) and how (`x-kubernetes-patch-strategy`), as the
//! `patchMergeKey`/`patchStrategy` tags of Kubernetes' API types declare them. kubectl
//! computes client-side apply patches from them.

use serde_json::Value;

use crate::Schemas;

/// A tagged property: "property:mergeKey:strategy" (no merge key: "property::strategy").
type Tags = &'static [&'static str];

/// Both kinds of containers carry the same lists.
const CONTAINER: Tags = &[
    "ports:containerPort:merge",
    "env:name:merge",
    "volumeMounts:mountPath:merge",
    "volumeDevices:devicePath:merge",
];
const CONDITIONS: Tags = &["conditions:type:merge"];

/// Schemas and their tagged properties.
const TAGGED: &[(&str, Tags)] = &[
    (
        "io.k8s.api.core.v1.PodSpec",
        &[
            "volumes:name:merge,retainKeys",
            "initContainers:name:merge",
            "containers:name:merge",
            "ephemeralContainers:name:merge",
            "imagePullSecrets:name:merge",
            "hostAliases:ip:merge",
            "topologySpreadConstraints:topologyKey:merge",
            "resourceClaims:name:merge,retainKeys",
            "schedulingGates:name:merge",
        ],
    ),
    ("io.k8s.api.core.v1.Container", CONTAINER),
    ("io.k8s.api.core.v1.EphemeralContainer", CONTAINER),
    (
        "io.k8s.api.core.v1.PodStatus",
        &[
            "conditions:type:merge",
            "podIPs:ip:merge",
            "hostIPs:ip:merge",
        ],
    ),
    ("io.k8s.api.core.v1.ServiceSpec", &["ports:port:merge"]),
    ("io.k8s.api.core.v1.ServiceStatus", CONDITIONS),
    ("io.k8s.api.core.v1.NodeSpec", &["podCIDRs::merge"]),
    (
        "io.k8s.api.core.v1.NodeStatus",
        &["conditions:type:merge", "addresses:type:merge"],
    ),
    ("io.k8s.api.core.v1.NamespaceStatus", CONDITIONS),
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", CONDITIONS),
    ("io.k8s.api.core.v1.ServiceAccount", &["secrets:name:merge"]),
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        &["strategy::retainKeys"],
    ),
    ("io.k8s.api.apps.v1.DeploymentStatus", CONDITIONS),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", CONDITIONS),
    ("io.k8s.api.apps.v1.StatefulSetStatus", CONDITIONS),
    ("io.k8s.api.apps.v1.DaemonSetStatus", CONDITIONS),
    ("io.k8s.api.batch.v1.JobStatus", CONDITIONS),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        &["finalizers::merge", "ownerReferences:uid:merge"],
    ),
];

/// Adds the extensions to the schemas present.
pub fn annotate(schemas: &mut Schemas) {
    for (schema, tags) in TAGGED {
        let Some(Value::Object(properties)) = schemas
            .get_mut(*schema)
            .and_then(|s| s.get_mut("properties"))
        else {
            continue;
        };
        for tag in *tags {
            let mut parts = tag.splitn(3, ':');
            let (property, key, strategy) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let Some(Value::Object(prop)) = properties.get_mut(property) else {
                continue;
            };
            if !key.is_empty() {
                prop.insert("x-kubernetes-patch-merge-key".into(), key.into());
            }
            prop.insert("x-kubernetes-patch-strategy".into(), strategy.into());
        }
    }
}
