//! `components.schemas`: the kinds of a group-version, their lists, the bodies of their
//! subresources and the meta/v1 types the operations name, with every type they reach.

use k8s_openapi::api::{apps, authorization, batch, coordination, core, discovery, rbac, storage};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Value};

use crate::kinds::KindInfo;
use crate::{gvk, reference, Schemas};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

/// Registers the schema of the kind `$kind` in the generator and returns its name.
macro_rules! by_kind {
    ($gen:expr, $kind:expr, { $($name:literal => $ty:ty),* $(,)? }) => {
        match $kind {
            $($name => { $gen.subschema_for::<$ty>(); <$ty as schemars::JsonSchema>::schema_name().to_string() })*
            other => panic!("no k8s-openapi type for kind {other}"),
        }
    };
}

fn register(gen: &mut SchemaGenerator, kind: &str) -> String {
    by_kind!(gen, kind, {
        "Pod" => core::v1::Pod,
        "ReplicaSet" => apps::v1::ReplicaSet,
        "Deployment" => apps::v1::Deployment,
        "Service" => core::v1::Service,
        "Endpoints" => core::v1::Endpoints,
        "ConfigMap" => core::v1::ConfigMap,
        "Secret" => core::v1::Secret,
        "Namespace" => core::v1::Namespace,
        "Node" => core::v1::Node,
        "Job" => batch::v1::Job,
        "DaemonSet" => apps::v1::DaemonSet,
        "StatefulSet" => apps::v1::StatefulSet,
        "CronJob" => batch::v1::CronJob,
        "PersistentVolume" => core::v1::PersistentVolume,
        "PersistentVolumeClaim" => core::v1::PersistentVolumeClaim,
        "StorageClass" => storage::v1::StorageClass,
        "Event" => core::v1::Event,
        "Lease" => coordination::v1::Lease,
        "ServiceAccount" => core::v1::ServiceAccount,
        "EndpointSlice" => discovery::v1::EndpointSlice,
        "Scale" => k8s_openapi::api::autoscaling::v1::Scale,
        "Eviction" => k8s_openapi::api::policy::v1::Eviction,
        "Binding" => core::v1::Binding,
        "TokenRequest" => k8s_openapi::api::authentication::v1::TokenRequest,
        "Role" => rbac::v1::Role,
        "ClusterRole" => rbac::v1::ClusterRole,
        "RoleBinding" => rbac::v1::RoleBinding,
        "ClusterRoleBinding" => rbac::v1::ClusterRoleBinding,
        "SelfSubjectAccessReview" => authorization::v1::SelfSubjectAccessReview,
        "SelfSubjectRulesReview" => authorization::v1::SelfSubjectRulesReview,
    })
}

/// The schemas of `kinds` (all of one group-version), and the schema name of each kind
/// and subresource body.
pub fn for_kinds(kinds: &[&KindInfo]) -> (Schemas, Vec<(&'static str, String)>) {
    let mut gen = SchemaSettings::openapi3().into_generator();
    gen.subschema_for::<meta::DeleteOptions>();
    gen.subschema_for::<meta::Status>();
    gen.subschema_for::<meta::Patch>();
    let mut tagged: Vec<(String, &str, &str, &'static str)> = Vec::new();
    let mut own: Vec<(&KindInfo, String)> = Vec::new();
    for kind in kinds {
        let name = register(&mut gen, kind.kind);
        own.push((kind, name.clone()));
        tagged.push((name, kind.group, kind.version, kind.kind));
        for sub in kind.subresources {
            if sub.kind.is_empty() || sub.kind.ends_with("Options") {
                continue;
            }
            let name = register(&mut gen, sub.kind);
            let (group, version) = sub.group_version.unwrap_or((kind.group, kind.version));
            tagged.push((name, group, version, sub.kind));
        }
    }
    let mut schemas = gen.take_definitions(true);
    for (name, group, version, kind) in &tagged {
        let Some(Value::Object(schema)) = schemas.get_mut(name) else {
            continue;
        };
        schema.insert(
            "x-kubernetes-group-version-kind".into(),
            gvk(group, version, kind),
        );
        // k8s-openapi makes metadata required (its Rust field is not optional);
        // Kubernetes does not.
        if let Some(Value::Array(required)) = schema.get_mut("required") {
            required.retain(|r| r != "metadata");
            if required.is_empty() {
                schema.remove("required");
            }
        }
    }
    for (kind, item) in own {
        schemas.insert(format!("{item}List"), list_schema(kind, &item));
    }
    schemas.sort_keys();
    let named = tagged
        .into_iter()
        .map(|(name, _, _, kind)| (kind, name))
        .collect();
    (schemas, named)
}

fn list_schema(kind: &KindInfo, item: &str) -> Value {
    json!({
        "description": format!("{}List is a list of {} objects.", kind.kind, kind.kind),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string"
            },
            "items": {
                "description": format!("List of {}.", kind.plural),
                "type": "array",
                "items": { "default": {}, "allOf": reference(item)["allOf"] }
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string"
            },
            "metadata": {
                "default": {},
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "allOf": reference(&format!("{META}.ListMeta"))["allOf"]
            }
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": gvk(kind.group, kind.version, &format!("{}List", kind.kind))
    })
}
