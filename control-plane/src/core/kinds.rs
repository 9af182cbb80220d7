//! The kinds the control plane serves, as requests name them (rows of `registry.rs`),
//! and the namespaces every cluster has.

use skiff_proto::model::SUPPORTED_KINDS;

use super::registry::{KindInfo, KINDS};
use super::Error;
use crate::store::Key;

/// The namespace of requests that name none, as in kubectl.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Namespaces made at first start, which may not be deleted (as in Kubernetes).
/// `kube-node-lease` holds the nodes' heartbeat Leases (`frontdoor/node/heartbeat.rs`).
pub const SYSTEM_NAMESPACES: &[&str] = &[DEFAULT_NAMESPACE, "kube-system", "kube-node-lease"];

/// Namespace of the nodes' Lease objects, as in Kubernetes.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// A supported kind, as a request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// Canonical spelling, as in manifests and store keys ("Pod", "ConfigMap").
    pub name: &'static str,
    pub namespaced: bool,
}

impl Kind {
    /// Resolves a kind name case-insensitively ("pod" and "Pod" are the same kind); the
    /// CLI resolves plurals and short names, the server only forgives case.
    pub fn resolve(requested: &str) -> Result<Kind, Error> {
        KINDS
            .iter()
            .find(|row| row.kind.eq_ignore_ascii_case(requested))
            .map(|row| Kind::of(row.kind))
            .ok_or_else(|| {
                let what = if requested.is_empty() {
                    "a kind is required".to_string()
                } else {
                    format!("unsupported kind {requested:?}")
                };
                Error::Invalid(format!("{what} (supported: {})", kind_names()))
            })
    }

    /// The kind of a canonical name (from a decoded object or a store key).
    pub fn of(name: &'static str) -> Kind {
        let namespaced = KINDS
            .iter()
            .find(|row| row.kind == name)
            .map_or(!matches!(name, "Namespace" | "Node"), |row| row.namespaced);
        Kind { name, namespaced }
    }

    /// The kind's row in the registry (`None` for the control plane's internal kinds,
    /// such as the allocation claims).
    pub fn info(&self) -> Option<&'static KindInfo> {
        KINDS.iter().find(|row| row.kind == self.name)
    }

    /// Every supported kind that lives in namespaces.
    pub fn namespaced_kinds() -> impl Iterator<Item = Kind> {
        KINDS
            .iter()
            .filter(|row| row.namespaced)
            .map(|row| Kind::of(row.kind))
    }

    /// The request's namespace for this kind: "" for cluster-scoped kinds whatever was
    /// asked, "default" for namespaced ones when none was.
    pub fn namespace_of<'a>(&self, requested: &'a str) -> &'a str {
        match (self.namespaced, requested) {
            (false, _) => "",
            (true, "") => DEFAULT_NAMESPACE,
            (true, namespace) => namespace,
        }
    }

    /// The store key of the object `name` in `namespace` (as the request gave it).
    pub fn key(&self, namespace: &str, name: &str) -> Key {
        Key::new(self.name, self.namespace_of(namespace), name)
    }
}

/// "Pod, ReplicaSet, ...": for error messages.
fn kind_names() -> String {
    let names: Vec<&str> = SUPPORTED_KINDS.iter().map(|(_, kind)| *kind).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_resolve_case_insensitively_and_list_the_supported_ones() {
        assert_eq!(Kind::resolve("pod").unwrap().name, "Pod");
        assert!(!Kind::resolve("Node").unwrap().namespaced);
        let err = Kind::resolve("Ingress").unwrap_err().to_string();
        assert!(
            err.contains("\"Ingress\"") && err.contains("ConfigMap"),
            "{err}"
        );
        assert_eq!(
            Kind::of("Pod").key("", "web"),
            Key::new("Pod", "default", "web")
        );
        assert_eq!(Kind::of("Node").key("x", "n1"), Key::new("Node", "", "n1"));
    }
}
