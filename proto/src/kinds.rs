//! The one table of the kinds skiff serves: group, version, plural, short names, scope
//! and categories, as Kubernetes' discovery describes them. Data only: the control plane
//! resolves requests through it (`control-plane/src/core/kinds.rs`) and the CLI resolves
//! what users type (`cli/src/kinds.rs`), so both accept the same names.

/// One served kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// As in manifests and store keys ("Deployment").
    pub kind: &'static str,
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// The REST resource name ("deployments").
    pub plural: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    /// kubectl's categories: `all` is what `get all` lists.
    pub categories: &'static [&'static str],
}

impl KindInfo {
    /// `apiVersion` as manifests write it: "v1", "apps/v1".
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The row of `name` in any spelling a user may type: kind, plural or short name,
    /// case-insensitively.
    pub fn lookup(name: &str) -> Option<&'static KindInfo> {
        KINDS.iter().find(|k| {
            k.kind.eq_ignore_ascii_case(name)
                || k.plural.eq_ignore_ascii_case(name)
                || k.short_names.iter().any(|s| s.eq_ignore_ascii_case(name))
        })
    }
}

const fn row(
    kind: &'static str,
    group: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    categories: &'static [&'static str],
) -> KindInfo {
    KindInfo {
        kind,
        group,
        version: "v1",
        plural,
        short_names,
        namespaced,
        categories,
    }
}

const ALL: &[&str] = &["all"];

/// Every kind served, manifests' kinds first (in the order errors list them), then the
/// ones only the control plane writes (Event, Lease).
pub const KINDS: &[KindInfo] = &[
    row("Pod", "", "pods", &["po"], true, ALL),
    row("ReplicaSet", "apps", "replicasets", &["rs"], true, ALL),
    row("Deployment", "apps", "deployments", &["deploy"], true, ALL),
    row("Service", "", "services", &["svc"], true, ALL),
    row("Endpoints", "", "endpoints", &["ep"], true, &[]),
    row("ConfigMap", "", "configmaps", &["cm"], true, &[]),
    row("Secret", "", "secrets", &[], true, &[]),
    row("Namespace", "", "namespaces", &["ns"], false, &[]),
    row("Node", "", "nodes", &["no"], false, &[]),
    row("Job", "batch", "jobs", &[], true, ALL),
    row("DaemonSet", "apps", "daemonsets", &["ds"], true, ALL),
    row("StatefulSet", "apps", "statefulsets", &["sts"], true, ALL),
    row("CronJob", "batch", "cronjobs", &["cj"], true, ALL),
    row(
        "PersistentVolume",
        "",
        "persistentvolumes",
        &["pv"],
        false,
        &[],
    ),
    row(
        "PersistentVolumeClaim",
        "",
        "persistentvolumeclaims",
        &["pvc"],
        true,
        &[],
    ),
    row(
        "StorageClass",
        "storage.k8s.io",
        "storageclasses",
        &["sc"],
        false,
        &[],
    ),
    row("Event", "", "events", &["ev"], true, &[]),
    row("Lease", "coordination.k8s.io", "leases", &[], true, &[]),
    row("ServiceAccount", "", "serviceaccounts", &["sa"], true, &[]),
    row(
        "EndpointSlice",
        "discovery.k8s.io",
        "endpointslices",
        &[],
        true,
        &[],
    ),
];

#[cfg(test)]
mod tests {
    use crate::model::SUPPORTED_KINDS;

    use super::*;

    #[test]
    fn every_manifest_kind_has_a_row_with_its_api_version() {
        for (api_version, kind) in SUPPORTED_KINDS {
            let row = KindInfo::lookup(kind).unwrap_or_else(|| panic!("{kind} has no row"));
            assert_eq!(row.kind, *kind);
            assert_eq!(row.api_version(), *api_version, "{kind}");
        }
    }

    #[test]
    fn plurals_and_short_names_find_their_kind() {
        assert_eq!(KindInfo::lookup("deploy").unwrap().kind, "Deployment");
        assert_eq!(KindInfo::lookup("Services").unwrap().kind, "Service");
        assert!(!KindInfo::lookup("ns").unwrap().namespaced);
        assert_eq!(
            KindInfo::lookup("leases").unwrap().group,
            "coordination.k8s.io"
        );
        assert!(KindInfo::lookup("ingress").is_none());
    }
}
