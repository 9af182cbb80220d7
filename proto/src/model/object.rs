//! `Object`: one of the kinds skiff serves, as its k8s-openapi type.
//!
//! A closed enum rather than a trait object so callers can `match` on the kind, and so
//! the list of supported kinds lives in exactly one place (the macro call below).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
    Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};

use super::decode::strict::{decode_strict, Failure};
use super::decode::{decode_value, DecodeError};

macro_rules! objects {
    ($($kind:ident),* $(,)?) => {
        /// A decoded manifest of one of the supported kinds.
        // Variants differ in size (a Pod is far larger than a ConfigMap); objects are few
        // and short-lived, so boxing every variant would only add noise at each match.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum Object {
            $($kind($kind),)*
        }

        $(impl From<$kind> for Object {
            fn from(object: $kind) -> Self {
                Object::$kind(object)
            }
        })*

        /// `(apiVersion, kind)` of every supported kind, in the order errors list them.
        pub const SUPPORTED_KINDS: &[(&str, &str)] = &[
            $((<$kind as Resource>::API_VERSION, <$kind as Resource>::KIND),)*
        ];

        impl Object {
            /// The `kind` of the object, e.g. "Deployment".
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Object::$kind(_) => <$kind as Resource>::KIND,)*
                }
            }

            /// The `apiVersion` of the object, e.g. "apps/v1".
            pub fn api_version(&self) -> &'static str {
                match self {
                    $(Object::$kind(_) => <$kind as Resource>::API_VERSION,)*
                }
            }

            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$kind(object) => object.metadata(),)*
                }
            }

            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Object::$kind(object) => object.metadata_mut(),)*
                }
            }

            /// The JSON skiff stores and sends: the k8s-openapi serialization, which
            /// includes `apiVersion` and `kind`.
            pub fn to_json_value(&self) -> serde_json::Value {
                let value = match self {
                    $(Object::$kind(object) => serde_json::to_value(object),)*
                };
                // k8s-openapi types have string keys only, so serializing cannot fail.
                value.expect("k8s-openapi objects serialize to JSON")
            }

            /// Strictly decodes one object of the given `apiVersion`/`kind` from JSON.
            /// `None` when the kind is not supported.
            pub(crate) fn decode_kind(
                api_version: &str,
                kind: &str,
                value: &serde_json::Value,
            ) -> Option<Result<Object, Failure>> {
                $(if api_version == <$kind as Resource>::API_VERSION
                    && kind == <$kind as Resource>::KIND
                {
                    return Some(decode_strict::<$kind>(value).map(Object::$kind));
                })*
                None
            }
        }
    };
}

objects!(
    Pod,
    ReplicaSet,
    Deployment,
    Service,
    Endpoints,
    ConfigMap,
    Secret,
    Namespace,
    Node,
    Job,
    DaemonSet,
    StatefulSet,
    CronJob,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
    ServiceAccount,
    EndpointSlice,
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
);

impl Object {
    /// The object serialized as JSON text.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }

    /// Decodes an object stored with [`Object::to_json`] (strictly, like a manifest).
    pub fn from_json(json: &str) -> Result<Object, DecodeError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|error| DecodeError {
            source: "json".to_string(),
            document: 1,
            path: String::new(),
            message: error.to_string(),
        })?;
        let mut objects = decode_value("json", 1, value)?;
        match (objects.pop(), objects.is_empty()) {
            (Some(object), true) => Ok(object),
            _ => Err(DecodeError {
                source: "json".to_string(),
                document: 1,
                path: String::new(),
                message: "expected a single object, not a List".to_string(),
            }),
        }
    }

    /// `metadata.name`, or "" when unset.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace`, or "" when unset (always "" for cluster-scoped kinds).
    pub fn namespace(&self) -> &str {
        self.metadata().namespace.as_deref().unwrap_or_default()
    }

    /// Whether objects of this kind live in a namespace (all but Namespace, Node,
    /// PersistentVolume, StorageClass, ClusterRole and ClusterRoleBinding).
    pub fn is_namespaced(&self) -> bool {
        !matches!(
            self,
            Object::Namespace(_)
                | Object::Node(_)
                | Object::PersistentVolume(_)
                | Object::StorageClass(_)
                | Object::ClusterRole(_)
                | Object::ClusterRoleBinding(_)
        )
    }
}

/// "v1/Pod, apps/v1/ReplicaSet, ...": the supported kinds, for error messages.
pub fn supported_kinds_list() -> String {
    SUPPORTED_KINDS
        .iter()
        .map(|(api_version, kind)| format!("{api_version}/{kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_kind_and_metadata() {
        let mut pod = Pod::default();
        pod.metadata.name = Some("web".to_string());
        pod.metadata.namespace = Some("default".to_string());
        let object = Object::from(pod);
        let json = object.to_json();
        assert!(json.contains(r#""kind":"Pod""#), "{json}");
        let back = Object::from_json(&json).unwrap();
        assert_eq!(back, object);
        assert_eq!((back.kind(), back.api_version()), ("Pod", "v1"));
        assert_eq!((back.name(), back.namespace()), ("web", "default"));
    }

    #[test]
    fn metadata_mut_edits_the_object() {
        let mut object = Object::from(Namespace::default());
        object.metadata_mut().name = Some("team-a".to_string());
        assert_eq!(object.name(), "team-a");
        assert!(!object.is_namespaced());
        assert!(Object::from(ConfigMap::default()).is_namespaced());
    }

    #[test]
    fn supported_kinds_cover_twenty_two_kinds() {
        assert_eq!(SUPPORTED_KINDS.len(), 22);
        let list = supported_kinds_list();
        assert!(list.starts_with("v1/Pod, apps/v1/ReplicaSet"), "{list}");
        assert!(list.contains("batch/v1/CronJob"), "{list}");
        assert!(
            list.ends_with("rbac.authorization.k8s.io/v1/ClusterRoleBinding"),
            "{list}"
        );
    }
}
