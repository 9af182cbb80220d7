//! Kind aliases, as kubectl resolves them.

use anyhow::bail;

/// A kind the control plane serves: its manifest name and how kubectl prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// Singular kind as in manifests ("Pod").
    pub kind: &'static str,
    /// Prefix of `kind/name` lines ("pod", "deployment.apps").
    pub resource: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

const KINDS: &[(&[&str], Kind)] = &[
    (&["po", "pod", "pods"], k("Pod", "pod", true)),
    (&["no", "node", "nodes"], k("Node", "node", false)),
    (
        &["ns", "namespace", "namespaces"],
        k("Namespace", "namespace", false),
    ),
    (
        &["svc", "service", "services"],
        k("Service", "service", true),
    ),
    (
        &["deploy", "deployment", "deployments"],
        k("Deployment", "deployment.apps", true),
    ),
    (
        &["rs", "replicaset", "replicasets"],
        k("ReplicaSet", "replicaset.apps", true),
    ),
    (
        &["cm", "configmap", "configmaps"],
        k("ConfigMap", "configmap", true),
    ),
    (&["secret", "secrets"], k("Secret", "secret", true)),
    (
        &["ep", "endpoint", "endpoints"],
        k("Endpoints", "endpoints", true),
    ),
    (
        &["ds", "daemonset", "daemonsets"],
        k("DaemonSet", "daemonset.apps", true),
    ),
    (
        &["sts", "statefulset", "statefulsets"],
        k("StatefulSet", "statefulset.apps", true),
    ),
    (&["job", "jobs"], k("Job", "job.batch", true)),
    (
        &["cj", "cronjob", "cronjobs"],
        k("CronJob", "cronjob.batch", true),
    ),
    (&["ev", "event", "events"], k("Event", "event", true)),
];

const fn k(kind: &'static str, resource: &'static str, namespaced: bool) -> Kind {
    Kind {
        kind,
        resource,
        namespaced,
    }
}

/// Resolves `po`, `pods`, `Pod`, `deploy.apps`… to a kind; unknown names list the supported ones.
pub fn resolve(name: &str) -> anyhow::Result<Kind> {
    let lower = name.to_ascii_lowercase();
    let base = lower.split('.').next().unwrap_or_default();
    if let Some((_, kind)) = KINDS.iter().find(|(aliases, _)| aliases.contains(&base)) {
        return Ok(*kind);
    }
    let supported: Vec<&str> = KINDS.iter().map(|(a, _)| a[a.len() - 1]).collect();
    bail!(
        "the server doesn't have a resource type {name:?}; supported: {}",
        supported.join(", ")
    )
}

/// The kind of a manifest's `kind` field (for lines like `pod/x created`).
pub fn from_manifest_kind(kind: &str) -> Option<Kind> {
    KINDS.iter().map(|(_, k)| *k).find(|k| k.kind == kind)
}

/// `pod/my-nginx-pod` for an object of `kind`.
pub fn ref_name(kind: &str, name: &str) -> String {
    match from_manifest_kind(kind) {
        Some(k) => format!("{}/{name}", k.resource),
        None => format!("{}/{name}", kind.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
