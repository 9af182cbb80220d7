//! The one table of the kinds skiff serves: group, version, plural, singular and short
//! names, scope, categories, verbs and subresources, as Kubernetes' discovery describes
//! them. Data only: the control plane resolves requests through it
//! (`control-plane/src/core/kinds.rs`) and serves discovery from it
//! (`control-plane/src/frontdoor/rest/discovery/`), and the CLI resolves what users type
//! (`cli/src/kinds.rs`), so all accept the same names.

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
    /// Discovery's `singularName`: the kind in lower case ("deployment").
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    /// kubectl's categories: `all` is what `get all` lists.
    pub categories: &'static [&'static str],
    /// The verbs discovery advertises for the resource, sorted as kube-apiserver sorts
    /// them; kubectl reads them to decide, for example, whether `get` may list it.
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
}

/// A subresource (`pods/log`, `deployments/scale`): what it is named, the kind its
/// body has and the verbs it takes, as discovery lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subresource {
    /// After the slash ("status", "scale").
    pub name: &'static str,
    /// The kind of its request or response body ("Scale", "PodExecOptions").
    pub kind: &'static str,
    /// Set when the body's kind lives in another group-version than its resource, as
    /// autoscaling/v1 Scale under apps/v1 deployments; `None` for the resource's own.
    pub group_version: Option<(&'static str, &'static str)>,
    pub verbs: &'static [&'static str],
}

impl KindInfo {
    /// `apiVersion` as manifests write it: "v1", "apps/v1".
    pub fn api_version(&self) -> String {
        group_version(self.group, self.version)
    }

    /// The row of `name` in any spelling a user may type: kind, plural, singular or
    /// short name, case-insensitively.
    pub fn lookup(name: &str) -> Option<&'static KindInfo> {
        KINDS.iter().find(|k| {
            k.kind.eq_ignore_ascii_case(name)
                || k.plural.eq_ignore_ascii_case(name)
                || k.singular.eq_ignore_ascii_case(name)
                || k.short_names.iter().any(|s| s.eq_ignore_ascii_case(name))
        })
    }

    /// Whether the resource takes `verb` ("list", "watch", "deletecollection").
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// The subresource called `name` ("status"), if the resource has one.
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    const fn verbs(mut self, verbs: &'static [&'static str]) -> KindInfo {
        self.verbs = verbs;
        self
    }

    const fn subresources(mut self, subresources: &'static [Subresource]) -> KindInfo {
        self.subresources = subresources;
        self
    }
}

/// "v1" for the core group, "apps/v1" for the others.
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

const fn row(
    kind: &'static str,
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    categories: &'static [&'static str],
) -> KindInfo {
    KindInfo {
        kind,
        group,
        version: "v1",
        plural,
        singular,
        short_names,
        namespaced,
        categories,
        verbs: EVERY_VERB,
        subresources: &[],
    }
}

const fn sub(
    name: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        kind,
        group_version: None,
        verbs,
    }
}

const ALL: &[&str] = &["all"];

/// What every ordinary resource takes, in kube-apiserver's order.
const EVERY_VERB: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces have no deletecollection in Kubernetes.
const NO_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Resources only the control plane writes (EndpointSlices mirror Endpoints here).
const READ_ONLY: &[&str] = &["get", "list", "watch"];
/// The reviews: a question posted and answered, never stored.
const CREATE_ONLY: &[&str] = &["create"];
/// What `/status` subresources take.
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

const STATUS: Subresource = sub("status", "", STATUS_VERBS);
/// `<workload>/scale`: an autoscaling/v1 Scale whatever the workload's group.
const SCALE: Subresource = Subresource {
    name: "scale",
    kind: "Scale",
    group_version: Some(("autoscaling", "v1")),
    verbs: STATUS_VERBS,
};
const STATUS_ONLY: &[Subresource] = &[STATUS];
const SCALE_AND_STATUS: &[Subresource] = &[SCALE, STATUS];

/// pods' subresources, in discovery's (alphabetical) order; "" is the resource's kind.
const POD_SUBRESOURCES: &[Subresource] = &[
    sub("attach", "PodAttachOptions", &["create", "get"]),
    sub("binding", "Binding", &["create"]),
    Subresource {
        name: "eviction",
        kind: "Eviction",
        group_version: Some(("policy", "v1")),
        verbs: &["create"],
    },
    sub("exec", "PodExecOptions", &["create", "get"]),
    sub("log", "", &["get"]),
    sub("portforward", "PodPortForwardOptions", &["create", "get"]),
    STATUS,
];
/// `serviceaccounts/token`: an authentication.k8s.io/v1 TokenRequest, posted and answered.
const SERVICE_ACCOUNT_SUBRESOURCES: &[Subresource] = &[Subresource {
    name: "token",
    kind: "TokenRequest",
    group_version: Some(("authentication.k8s.io", "v1")),
    verbs: &["create"],
}];
const NAMESPACE_SUBRESOURCES: &[Subresource] = &[sub("finalize", "", &["update"]), STATUS];

impl Subresource {
    /// The kind of its body: its own, or the resource's when it has none ("" in the table).
    pub fn kind_of(&self, resource: &KindInfo) -> &'static str {
        if self.kind.is_empty() {
            resource.kind
        } else {
            self.kind
        }
    }
}

/// Every kind served, manifests' kinds first (in the order errors list them), then the
/// ones only the control plane writes (Event, Lease) and those served for clients to
/// read (ServiceAccount, EndpointSlice), then RBAC's and the access reviews.
pub const KINDS: &[KindInfo] = &[
    row("Pod", "", "pods", "pod", &["po"], true, ALL).subresources(POD_SUBRESOURCES),
    row(
        "ReplicaSet",
        "apps",
        "replicasets",
        "replicaset",
        &["rs"],
        true,
        ALL,
    )
    .subresources(SCALE_AND_STATUS),
    row(
        "Deployment",
        "apps",
        "deployments",
        "deployment",
        &["deploy"],
        true,
        ALL,
    )
    .subresources(SCALE_AND_STATUS),
    row("Service", "", "services", "service", &["svc"], true, ALL).subresources(STATUS_ONLY),
    row(
        "Endpoints",
        "",
        "endpoints",
        "endpoints",
        &["ep"],
        true,
        &[],
    ),
    row(
        "ConfigMap",
        "",
        "configmaps",
        "configmap",
        &["cm"],
        true,
        &[],
    ),
    row("Secret", "", "secrets", "secret", &[], true, &[]),
    row(
        "Namespace",
        "",
        "namespaces",
        "namespace",
        &["ns"],
        false,
        &[],
    )
    .verbs(NO_DELETECOLLECTION)
    .subresources(NAMESPACE_SUBRESOURCES),
    row("Node", "", "nodes", "node", &["no"], false, &[]).subresources(STATUS_ONLY),
    row("Job", "batch", "jobs", "job", &[], true, ALL).subresources(STATUS_ONLY),
    row(
        "DaemonSet",
        "apps",
        "daemonsets",
        "daemonset",
        &["ds"],
        true,
        ALL,
    )
    .subresources(STATUS_ONLY),
    row(
        "StatefulSet",
        "apps",
        "statefulsets",
        "statefulset",
        &["sts"],
        true,
        ALL,
    )
    .subresources(SCALE_AND_STATUS),
    row(
        "CronJob",
        "batch",
        "cronjobs",
        "cronjob",
        &["cj"],
        true,
        ALL,
    )
    .subresources(STATUS_ONLY),
    row(
        "PersistentVolume",
        "",
        "persistentvolumes",
        "persistentvolume",
        &["pv"],
        false,
        &[],
    )
    .subresources(STATUS_ONLY),
    row(
        "PersistentVolumeClaim",
        "",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        &["pvc"],
        true,
        &[],
    )
    .subresources(STATUS_ONLY),
    row(
        "StorageClass",
        "storage.k8s.io",
        "storageclasses",
        "storageclass",
        &["sc"],
        false,
        &[],
    ),
    row("Event", "", "events", "event", &["ev"], true, &[]),
    row(
        "Lease",
        "coordination.k8s.io",
        "leases",
        "lease",
        &[],
        true,
        &[],
    ),
    row(
        "ServiceAccount",
        "",
        "serviceaccounts",
        "serviceaccount",
        &["sa"],
        true,
        &[],
    )
    .subresources(SERVICE_ACCOUNT_SUBRESOURCES),
    row(
        "EndpointSlice",
        "discovery.k8s.io",
        "endpointslices",
        "endpointslice",
        &[],
        true,
        &[],
    )
    .verbs(READ_ONLY),
    row(
        "Role",
        "rbac.authorization.k8s.io",
        "roles",
        "role",
        &[],
        true,
        &[],
    ),
    row(
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "clusterroles",
        "clusterrole",
        &[],
        false,
        &[],
    ),
    row(
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "rolebindings",
        "rolebinding",
        &[],
        true,
        &[],
    ),
    row(
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clusterrolebinding",
        &[],
        false,
        &[],
    ),
    row(
        "SelfSubjectAccessReview",
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        &[],
        false,
        &[],
    )
    .verbs(CREATE_ONLY),
    row(
        "SelfSubjectRulesReview",
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        &[],
        false,
        &[],
    )
    .verbs(CREATE_ONLY),
];

/// Kinds that are questions, answered and never stored (authorization.k8s.io reviews).
pub const REVIEW_KINDS: &[&str] = &["SelfSubjectAccessReview", "SelfSubjectRulesReview"];

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

    #[test]
    fn singulars_are_lowercase_kinds_and_verbs_sorted() {
        for row in KINDS {
            assert_eq!(row.singular, row.kind.to_ascii_lowercase(), "{}", row.kind);
            let mut sorted = row.verbs.to_vec();
            sorted.sort_unstable();
            assert_eq!(row.verbs, sorted.as_slice(), "{}", row.kind);
            let names: Vec<&str> = row.subresources.iter().map(|s| s.name).collect();
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(
                names, unique,
                "{}: subresources sorted, once each",
                row.kind
            );
        }
    }

    #[test]
    fn subresources_carry_their_body_kinds() {
        let deploy = KindInfo::lookup("deployments").unwrap();
        let scale = deploy.subresource("scale").unwrap();
        assert_eq!(scale.kind_of(deploy), "Scale");
        assert_eq!(scale.group_version, Some(("autoscaling", "v1")));
        let pod = KindInfo::lookup("po").unwrap();
        assert_eq!(pod.subresource("log").unwrap().kind_of(pod), "Pod");
        assert_eq!(
            pod.subresource("exec").unwrap().kind_of(pod),
            "PodExecOptions"
        );
        assert!(pod.subresource("scale").is_none());
        let slices = KindInfo::lookup("endpointslice").unwrap();
        assert!(slices.has_verb("watch") && !slices.has_verb("create"));
        assert!(!KindInfo::lookup("ns").unwrap().has_verb("deletecollection"));
        assert_eq!(KindInfo::lookup("sa").unwrap().kind, "ServiceAccount");
    }
}
