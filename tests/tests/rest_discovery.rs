//! What the real kubectl v1.33 asks before it acts, against a control plane: the server's
//! version (no skew warning), discovery (`api-resources`, `api-versions` as against
//! Kubernetes for the kinds skiff has), OpenAPI v3 (`explain` prints Kubernetes' text;
//! `apply` leaves strict field validation to the server) and the health checks.

use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::TestControlPlane;

/// `kubectl api-resources` rows as Kubernetes 1.33 prints them for these resources:
/// NAME, SHORTNAMES, APIVERSION, NAMESPACED, KIND.
const RESOURCES: &[[&str; 5]] = &[
    ["configmaps", "cm", "v1", "true", "ConfigMap"],
    ["endpoints", "ep", "v1", "true", "Endpoints"],
    ["events", "ev", "v1", "true", "Event"],
    ["namespaces", "ns", "v1", "false", "Namespace"],
    ["nodes", "no", "v1", "false", "Node"],
    [
        "persistentvolumeclaims",
        "pvc",
        "v1",
        "true",
        "PersistentVolumeClaim",
    ],
    ["persistentvolumes", "pv", "v1", "false", "PersistentVolume"],
    ["pods", "po", "v1", "true", "Pod"],
    ["secrets", "", "v1", "true", "Secret"],
    ["serviceaccounts", "sa", "v1", "true", "ServiceAccount"],
    ["services", "svc", "v1", "true", "Service"],
    ["daemonsets", "ds", "apps/v1", "true", "DaemonSet"],
    ["deployments", "deploy", "apps/v1", "true", "Deployment"],
    ["replicasets", "rs", "apps/v1", "true", "ReplicaSet"],
    ["statefulsets", "sts", "apps/v1", "true", "StatefulSet"],
    ["cronjobs", "cj", "batch/v1", "true", "CronJob"],
    ["jobs", "", "batch/v1", "true", "Job"],
    [
        "storageclasses",
        "sc",
        "storage.k8s.io/v1",
        "false",
        "StorageClass",
    ],
    ["leases", "", "coordination.k8s.io/v1", "true", "Lease"],
    [
        "endpointslices",
        "",
        "discovery.k8s.io/v1",
        "true",
        "EndpointSlice",
    ],
    [
        "clusterrolebindings",
        "",
        "rbac.authorization.k8s.io/v1",
        "false",
        "ClusterRoleBinding",
    ],
    [
        "clusterroles",
        "",
        "rbac.authorization.k8s.io/v1",
        "false",
        "ClusterRole",
    ],
    [
        "rolebindings",
        "",
        "rbac.authorization.k8s.io/v1",
        "true",
        "RoleBinding",
    ],
    ["roles", "", "rbac.authorization.k8s.io/v1", "true", "Role"],
    [
        "selfsubjectaccessreviews",
        "",
        "authorization.k8s.io/v1",
        "false",
        "SelfSubjectAccessReview",
    ],
    [
        "selfsubjectrulesreviews",
        "",
        "authorization.k8s.io/v1",
        "false",
        "SelfSubjectRulesReview",
    ],
];

#[test]
fn kubectl_discovers_explains_and_checks_health() {
    let cp = TestControlPlane::start().expect("control plane");
    let kubectl = Kubectl::for_cluster(&cp).expect("kubectl");
    let check = || -> anyhow::Result<()> {
        // Version: a 1.33 server, so no skew warning.
        let version = kubectl.run(&["version"])?;
        anyhow::ensure!(version.success(), "kubectl version: {version:?}");
        let server_line = format!(
            "Server Version: v1.33.0-skiff.{}",
            env!("CARGO_PKG_VERSION")
        );
        anyhow::ensure!(
            version.stdout.lines().any(|l| l == server_line),
            "kubectl version printed: {}",
            version.stdout
        );
        anyhow::ensure!(
            !version.stderr.contains("WARNING"),
            "kubectl version warned: {}",
            version.stderr
        );

        // api-resources: the header and one row per resource, with kube's columns.
        let listed = kubectl.ok(&["api-resources"])?;
        let mut lines = listed.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        anyhow::ensure!(
            header == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
            "api-resources header: {header:?}"
        );
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
        anyhow::ensure!(
            rows.len() == RESOURCES.len(),
            "api-resources listed {} rows:\n{listed}",
            rows.len()
        );
        for expected in RESOURCES {
            let want: Vec<&str> = expected.iter().copied().filter(|c| !c.is_empty()).collect();
            anyhow::ensure!(
                rows.contains(&want),
                "api-resources lacks {want:?}:\n{listed}"
            );
        }
        let namespaced = kubectl.ok(&["api-resources", "--namespaced=false", "-o", "name"])?;
        let mut cluster_scoped: Vec<&str> = namespaced.lines().collect();
        cluster_scoped.sort_unstable();
        anyhow::ensure!(
            cluster_scoped
                == [
                    "clusterrolebindings.rbac.authorization.k8s.io",
                    "clusterroles.rbac.authorization.k8s.io",
                    "namespaces",
                    "nodes",
                    "persistentvolumes",
                    "selfsubjectaccessreviews.authorization.k8s.io",
                    "selfsubjectrulesreviews.authorization.k8s.io",
                    "storageclasses.storage.k8s.io"
                ],
            "cluster-scoped: {cluster_scoped:?}"
        );

        let versions = kubectl.ok(&["api-versions"])?;
        let versions: Vec<&str> = versions.lines().collect();
        anyhow::ensure!(
            versions
                == [
                    "apps/v1",
                    "authorization.k8s.io/v1",
                    "batch/v1",
                    "coordination.k8s.io/v1",
                    "discovery.k8s.io/v1",
                    "rbac.authorization.k8s.io/v1",
                    "storage.k8s.io/v1",
                    "v1"
                ],
            "api-versions: {versions:?}"
        );

        // explain: Kubernetes' descriptions, from the OpenAPI v3 document of apps/v1.
        let explained = kubectl.ok(&["explain", "deployment.spec.strategy"])?;
        for want in [
            "GROUP:      apps",
            "KIND:       Deployment",
            "VERSION:    v1",
            "FIELD: strategy <DeploymentStrategy>",
            "The deployment strategy to use to replace existing pods with new ones.",
            "rollingUpdate\t<RollingUpdateDeployment>",
            "type\t<string>",
        ] {
            anyhow::ensure!(
                explained.contains(want),
                "explain lacks {want:?}:\n{explained}"
            );
        }

        // Field validation is left to the server: kubectl sends the directive and does
        // not validate against a schema itself (it would print "error validating data").
        let manifest = cp.scratch().join("disco-cm.yaml");
        std::fs::write(
            &manifest,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: disco-cm\ndata:\n  a: b\nbogusField: 1\n",
        )?;
        let applied =
            kubectl.run(&["apply", "-f", manifest.to_str().unwrap_or_default(), "-v=6"])?;
        anyhow::ensure!(
            !applied.stderr.contains("error validating data"),
            "kubectl validated client-side: {}",
            applied.stderr
        );
        anyhow::ensure!(
            applied.stderr.contains("fieldValidation=Strict"),
            "kubectl did not ask the server to validate: {}",
            applied.stderr
        );
        anyhow::ensure!(
            !applied.success()
                && applied
                    .stderr
                    .contains("strict decoding error: unknown field \"bogusField\""),
            "the server did not refuse the unknown field: {applied:?}"
        );
        anyhow::ensure!(
            !applied.stderr.contains("/openapi/v2"),
            "kubectl needed OpenAPI v2: {}",
            applied.stderr
        );

        // Health, verbose.
        let ready = kubectl.ok(&["get", "--raw", "/readyz?verbose"])?;
        anyhow::ensure!(
            ready == "[+]ping ok\n[+]log ok\n[+]etcd ok\nreadyz check passed\n",
            "readyz: {ready:?}"
        );
        let live = kubectl.ok(&["get", "--raw", "/livez"])?;
        anyhow::ensure!(live == "ok", "livez: {live:?}");
        Ok(())
    };
    if let Err(e) = check() {
        panic!("{e:#}\ncontrol plane log:\n{}", cp.log());
    }
}
