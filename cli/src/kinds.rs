//! Kind aliases, as kubectl resolves them, read off the registry of kinds the control
//! plane serves too (`skiff_proto::kinds`).

use anyhow::bail;
use skiff_proto::kinds::{KindInfo, KINDS};

/// A kind the control plane serves: its manifest name and how kubectl prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// Singular kind as in manifests ("Pod").
    pub kind: &'static str,
    /// "" for the core group.
    pub group: &'static str,
    /// The served version ("v1").
    pub version: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// The REST resource name ("persistentvolumes").
    pub plural: &'static str,
}

impl Kind {
    fn of(row: &'static KindInfo) -> Kind {
        Kind {
            kind: row.kind,
            group: row.group,
            version: row.version,
            namespaced: row.namespaced,
            plural: row.plural,
        }
    }

    /// The resource as the API server's errors name it ("pods", "deployments.apps").
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Prefix of `kind/name` lines ("pod", "deployment.apps").
    pub fn resource(&self) -> String {
        let singular = self.kind.to_ascii_lowercase();
        if self.group.is_empty() {
            singular
        } else {
            format!("{singular}.{}", self.group)
        }
    }
}

/// Whether `name` (lower case, without a group) names `row`: its kind, plural, singular
/// ("endpoint") or a short name.
fn names(row: &KindInfo, name: &str) -> bool {
    row.kind.eq_ignore_ascii_case(name)
        || row.plural == name
        || row.plural.strip_suffix('s') == Some(name)
        || row.short_names.contains(&name)
}

/// Resolves `po`, `pods`, `Pod`, `deploy.apps`… to a kind; unknown names list the supported ones.
pub fn resolve(name: &str) -> anyhow::Result<Kind> {
    let lower = name.to_ascii_lowercase();
    let base = lower.split('.').next().unwrap_or_default();
    if let Some(row) = KINDS.iter().find(|row| names(row, base)) {
        return Ok(Kind::of(row));
    }
    let supported: Vec<&str> = KINDS.iter().map(|row| row.plural).collect();
    bail!(
        "the server doesn't have a resource type {name:?}; supported: {}",
        supported.join(", ")
    )
}

/// The kinds of a category (`all`), in the order kubectl lists them: the core group
/// first, then by group and plural, as discovery orders them.
pub fn category(name: &str) -> Vec<Kind> {
    let mut rows: Vec<&KindInfo> = KINDS
        .iter()
        .filter(|row| row.categories.contains(&name))
        .collect();
    rows.sort_by_key(|row| (row.group, row.plural));
    rows.into_iter().map(Kind::of).collect()
}

/// The kind of a manifest's `kind` field (for lines like `pod/x created`).
pub fn from_manifest_kind(kind: &str) -> Option<Kind> {
    KINDS.iter().find(|row| row.kind == kind).map(Kind::of)
}

/// `pod/my-nginx-pod` for an object of `kind`.
pub fn ref_name(kind: &str, name: &str) -> String {
    match from_manifest_kind(kind) {
        Some(k) => format!("{}/{name}", k.resource()),
        None => format!("{}/{name}", kind.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_kubectls_kinds_in_its_order() {
        let kinds: Vec<&str> = category("all").iter().map(|k| k.kind).collect();
        assert_eq!(
            kinds,
            [
                "Pod",
                "Service",
                "DaemonSet",
                "Deployment",
                "ReplicaSet",
                "StatefulSet",
                "CronJob",
                "Job"
            ]
        );
    }

    #[test]
    fn aliases() {
        for (alias, kind) in [
            ("po", "Pod"),
            ("pods", "Pod"),
            ("Pod", "Pod"),
            ("no", "Node"),
            ("ns", "Namespace"),
            ("svc", "Service"),
            ("deploy", "Deployment"),
            ("deployments.apps", "Deployment"),
            ("rs", "ReplicaSet"),
            ("cm", "ConfigMap"),
            ("secrets", "Secret"),
            ("ep", "Endpoints"),
            ("ds", "DaemonSet"),
            ("sts", "StatefulSet"),
            ("jobs", "Job"),
            ("cj", "CronJob"),
            ("ev", "Event"),
            ("events", "Event"),
            ("pod", "Pod"),
            ("node", "Node"),
            ("namespace", "Namespace"),
            ("service", "Service"),
            ("deployment", "Deployment"),
            ("replicaset", "ReplicaSet"),
            ("configmap", "ConfigMap"),
            ("secret", "Secret"),
            ("endpoint", "Endpoints"),
            ("endpoints", "Endpoints"),
            ("daemonset", "DaemonSet"),
            ("statefulset", "StatefulSet"),
            ("job", "Job"),
            ("cronjob", "CronJob"),
            ("event", "Event"),
        ] {
            assert_eq!(resolve(alias).unwrap().kind, kind, "{alias}");
        }
        assert!(!resolve("node").unwrap().namespaced);
    }

    #[test]
    fn unknown_kind_lists_supported() {
        let err = resolve("ingress").unwrap_err().to_string();
        assert!(err.contains("\"ingress\"") && err.contains("pods") && err.contains("services"));
    }

    #[test]
    fn ref_names() {
        assert_eq!(ref_name("Pod", "x"), "pod/x");
        assert_eq!(ref_name("Deployment", "d"), "deployment.apps/d");
        assert_eq!(ref_name("Endpoints", "e"), "endpoints/e");
        assert_eq!(ref_name("CronJob", "c"), "cronjob.batch/c");
    }
}
