//! Service accounts through kubectl against a control plane (no agent): every namespace
//! gets `default` and the CA ConfigMap, `kubectl create token` gives a JWT that is the
//! account (RBAC decides what it may do), a token bound to a pod dies with it, new pods
//! get the kube-api-access volume unless they opt out, and the `kubernetes` Service
//! points at the API.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::{wait_for, TestControlPlane};

const NS: &str = "sa-e2e";
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);

fn control_plane() -> Option<TestControlPlane> {
    if !skiff_e2e::require_root_and_tools() {
        return None;
    }
    Some(TestControlPlane::start().expect("control plane"))
}

/// A kubeconfig with the cluster of admin.conf and only `token` as credentials (no
/// client certificate), as a pod or a CI job would have.
fn token_kubectl(cp: &TestControlPlane, name: &str, token: &str) -> anyhow::Result<Kubectl> {
    let admin: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(cp.data().join("admin.conf"))?)?;
    let cluster = &admin["clusters"][0]["cluster"];
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "skiff", "cluster": {
            "server": cluster["server"].as_str().context("server")?,
            "certificate-authority-data": cluster["certificate-authority-data"].as_str().context("ca")?,
        }}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "skiff", "user": name}}],
        "current-context": name,
    });
    let path: PathBuf = cp.scratch().join(format!("{name}.conf"));
    std::fs::write(&path, serde_json::to_string(&config)?)?;
    Kubectl::new(&path, cp.scratch())
}

fn apply(kubectl: &Kubectl, yaml: &str) -> anyhow::Result<skiff_e2e::kubectl::KubectlOutput> {
    kubectl.run_with_stdin(&["apply", "-f", "-"], Some(yaml))
}

fn pod(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n{extra}  containers:\n  - name: main\n    image: busybox\n"
    )
}

fn pod_json(admin: &Kubectl, name: &str) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(
        &admin.ok(&["get", "pod", name, "-n", NS, "-o", "json"])?,
    )?)
}

#[test]
fn service_accounts_tokens_and_the_kubernetes_service() {
    let Some(cp) = control_plane() else { return };
    let admin = Kubectl::for_cluster(&cp).unwrap();
    let created = admin.ok(&["create", "namespace", NS]).unwrap();
    assert!(created.contains("created"), "{created}");

    // A new namespace has `default` and the CA ConfigMap.
    wait_for("the default account", WAIT, POLL, || {
        let accounts = admin.ok(&["get", "sa", "-n", NS])?;
        ensure!(
            accounts.lines().any(|l| l.starts_with("default ")),
            "{accounts}"
        );
        Ok(())
    })
    .unwrap();
    let ca = std::fs::read_to_string(cp.data().join("pki/ca.crt")).unwrap();
    let published = wait_for("kube-root-ca.crt", WAIT, POLL, || {
        admin.ok(&[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            NS,
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ])
    })
    .unwrap();
    assert_eq!(published.trim(), ca.trim());

    // A token of `default`: the account, holding nothing until a binding grants it.
    let token = admin.ok(&["create", "token", "default", "-n", NS]).unwrap();
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let sa = token_kubectl(&cp, "sa", token).unwrap();
    let whoami = sa.ok(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    if let Ok(name) = &whoami {
        assert_eq!(name.trim(), format!("system:serviceaccount:{NS}:default"));
    }
    let before = sa
        .run(&["auth", "can-i", "list", "pods", "-n", NS])
        .unwrap();
    assert_eq!(before.stdout.trim(), "no", "{before:?}");
    let refused = sa.run(&["get", "pods", "-n", NS]).unwrap();
    assert!(
        refused.stderr.contains(&format!(
            "User \"system:serviceaccount:{NS}:default\" cannot list resource \"pods\""
        )),
        "{refused:?}"
    );
    admin
        .ok(&[
            "create",
            "rolebinding",
            "sa-view",
            "--clusterrole=view",
            &format!("--serviceaccount={NS}:default"),
            "-n",
            NS,
        ])
        .unwrap();
    let after = sa
        .run(&["auth", "can-i", "list", "pods", "-n", NS])
        .unwrap();
    assert_eq!(after.stdout.trim(), "yes", "{after:?}");
    let listed = sa.run(&["get", "pods", "-n", NS]).unwrap();
    assert!(listed.success(), "{listed:?}");
    let forged = token_kubectl(&cp, "forged", &format!("{token}x")).unwrap();
    let unauthorized = forged.run(&["get", "pods", "-n", NS]).unwrap();
    assert!(
        unauthorized
            .stderr
            .contains("You must be logged in to the server"),
        "{unauthorized:?}"
    );

    // A pod gets the account's token volume and mounts; one that opts out gets none.
    assert!(apply(&admin, &pod("mounted", "")).unwrap().success());
    let mounted = pod_json(&admin, "mounted").unwrap();
    assert_eq!(mounted["spec"]["serviceAccountName"], "default");
    let volume = &mounted["spec"]["volumes"][0];
    let volume_name = volume["name"].as_str().unwrap_or_default();
    assert!(volume_name.starts_with("kube-api-access-"), "{volume}");
    let sources = volume["projected"]["sources"].as_array().unwrap();
    assert_eq!(sources[0]["serviceAccountToken"]["path"], "token");
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(
        mounted["spec"]["containers"][0]["volumeMounts"],
        serde_json::json!([{
            "name": volume_name, "readOnly": true,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        }])
    );
    assert!(apply(
        &admin,
        &pod("quiet", "  automountServiceAccountToken: false\n")
    )
    .unwrap()
    .success());
    let quiet = pod_json(&admin, "quiet").unwrap();
    assert_eq!(quiet["spec"].get("volumes"), None, "{quiet}");
    assert_eq!(quiet["spec"]["containers"][0].get("volumeMounts"), None);
    let ghost = apply(&admin, &pod("ghost", "  serviceAccountName: ghost\n")).unwrap();
    assert!(
        ghost.stderr.contains(&format!(
            "is forbidden: error looking up service account {NS}/ghost: serviceaccount \"ghost\" not found"
        )),
        "{ghost:?}"
    );

    // A token bound to a pod stops working once the pod is gone.
    let bound = admin
        .ok(&[
            "create",
            "token",
            "default",
            "-n",
            NS,
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "mounted",
        ])
        .unwrap();
    let bound = token_kubectl(&cp, "bound", bound.trim()).unwrap();
    assert!(bound.run(&["get", "pods", "-n", NS]).unwrap().success());
    admin
        .ok(&[
            "delete",
            "pod",
            "mounted",
            "-n",
            NS,
            "--grace-period=0",
            "--force",
        ])
        .unwrap();
    wait_for("the bound token refused", WAIT, POLL, || {
        let out = bound.run(&["get", "pods", "-n", NS])?;
        ensure!(
            out.stderr.contains("You must be logged in to the server"),
            "{out:?}"
        );
        Ok(())
    })
    .unwrap();

    // The `kubernetes` Service at the service range's first address, to the API.
    let port = url_port(&cp).unwrap();
    wait_for("the kubernetes service", WAIT, POLL, || {
        let svc = admin.ok(&["get", "svc", "kubernetes"])?;
        let row: Vec<&str> = svc
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        ensure!(
            row.get(..5)
                == Some(&["kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP"][..]),
            "{svc}"
        );
        let endpoints = admin.ok(&["get", "endpoints", "kubernetes"])?;
        ensure!(endpoints.contains(&format!(":{port}")), "{endpoints}");
        Ok(())
    })
    .unwrap();
    admin.ok(&["delete", "svc", "kubernetes"]).unwrap();
    wait_for("the kubernetes service back", WAIT, POLL, || {
        admin.ok(&["get", "svc", "kubernetes"])
    })
    .unwrap();
}

/// The API port, from admin.conf's server URL.
fn url_port(cp: &TestControlPlane) -> anyhow::Result<u16> {
    let admin = std::fs::read_to_string(cp.data().join("admin.conf"))?;
    for line in admin.lines() {
        if let Some(url) = line.trim().strip_prefix("server: ") {
            let port = url.rsplit(':').next().context("port")?;
            return Ok(port.trim().parse()?);
        }
    }
    bail!("no server in admin.conf")
}
