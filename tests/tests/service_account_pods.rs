//! A client inside a pod talks to the API with its service account (issue 17, item 3),
//! on a one-node cluster whose node is a network namespace and whose control plane
//! listens on the test bridge's host address, as a VM's control plane would:
//! - the pod gets the `kube-api-access-*` volume: `token`, `ca.crt` (the cluster's CA)
//!   and `namespace` (its own) under /var/run/secrets/kubernetes.io/serviceaccount, and
//!   `KUBERNETES_SERVICE_HOST`/`_PORT` naming the `kubernetes` Service's ClusterIP;
//! - the real kubectl, mounted into the pod, with no kubeconfig (its in-cluster
//!   configuration, through the ClusterIP the node's proxy sends to the control plane):
//!   `get pods` is Forbidden for `system:serviceaccount:NS:default`, then lists the pod
//!   once a RoleBinding grants the `view` ClusterRole;
//! - a pod with `automountServiceAccountToken: false` has no such directory.
//!
//! The token's refresh at 80% of its life is checked with a moved clock in the agent's
//! unit tests (`volumes/token_tests.rs`), not here.

use std::time::Duration;

use anyhow::ensure;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::multinode::{MultiNode, Options};
use skiff_e2e::wait_for;

const NS: &str = "sa-e2e";
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A shell pod with the host's kubectl (a static binary) mounted in.
fn client_pod(name: &str, automount: bool) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {NS}
spec:
  automountServiceAccountToken: {automount}
  containers:
    - name: shell
      image: busybox:latest
      command: ["sleep", "3600"]
      volumeMounts:
        - name: kubectl
          mountPath: /usr/bin/kubectl
          readOnly: true
  volumes:
    - name: kubectl
      hostPath:
        path: {kubectl}
        type: File
"#,
        kubectl = skiff_e2e::kubectl::kubectl_binary().display()
    )
}

fn wait_running(kubectl: &Kubectl, pod: &str) -> anyhow::Result<()> {
    wait_for(
        &format!("pod {pod} Running"),
        Duration::from_secs(90),
        Duration::from_millis(500),
        || {
            let phase = kubectl.ok(&[
                "get",
                "pod",
                pod,
                "-n",
                NS,
                "-o",
                "jsonpath={.status.phase}",
            ])?;
            ensure!(phase == "Running", "phase {phase:?}");
            Ok(())
        },
    )
}

/// `sh -c SCRIPT` in the pod, through `kubectl exec`; stdout, stderr and exit code.
fn in_pod(kubectl: &Kubectl, pod: &str, script: &str) -> anyhow::Result<(String, String, i32)> {
    let out = kubectl.run(&["exec", "-n", NS, pod, "--", "sh", "-c", script])?;
    Ok((out.stdout, out.stderr, out.code.unwrap_or(-1)))
}

#[test]
fn a_pod_lists_pods_with_its_service_account_once_granted() {
    let opts = Options {
        nodes: 1,
        ..Options::three_nodes()
    };
    MultiNode::run(opts, |cluster| {
        let kubectl = Kubectl::for_cluster(&cluster.cp)?;
        kubectl.ok(&["create", "namespace", NS])?;
        cluster.apply("client.yaml", &client_pod("client", true))?;
        cluster.apply("no-token.yaml", &client_pod("no-token", false))?;
        wait_running(&kubectl, "client")?;
        wait_running(&kubectl, "no-token")?;

        // The three files and the service variables.
        let (namespace, _, _) = in_pod(&kubectl, "client", &format!("cat {SA_DIR}/namespace"))?;
        ensure!(namespace == NS, "namespace file: {namespace:?}");
        let (ca, _, _) = in_pod(&kubectl, "client", &format!("cat {SA_DIR}/ca.crt"))?;
        let root_ca = kubectl.ok(&[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            NS,
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ])?;
        ensure!(
            ca.contains("BEGIN CERTIFICATE") && ca.trim() == root_ca.trim(),
            "ca.crt {ca:?} is not the cluster's {root_ca:?}"
        );
        let (token, _, _) = in_pod(&kubectl, "client", &format!("cat {SA_DIR}/token"))?;
        ensure!(
            token.split('.').count() == 3 && !token.contains('\n'),
            "token is not a JWT: {token:?}"
        );
        let (env, _, _) = in_pod(&kubectl, "client", "env")?;
        ensure!(
            env.lines()
                .any(|l| l == "KUBERNETES_SERVICE_HOST=10.43.0.1")
                && env.lines().any(|l| l == "KUBERNETES_SERVICE_PORT=443")
                && env
                    .lines()
                    .any(|l| l == "KUBERNETES_PORT=tcp://10.43.0.1:443"),
            "service variables missing: {env}"
        );

        // Refused before a binding, naming the service account.
        let (out, err, code) = in_pod(&kubectl, "client", "kubectl get pods")?;
        ensure!(code != 0, "listed without a binding: {out}");
        ensure!(
            err.contains("Forbidden") || err.contains("forbidden"),
            "not a Forbidden: {err}"
        );
        ensure!(
            err.contains(&format!("system:serviceaccount:{NS}:default")),
            "the refusal does not name the service account: {err}"
        );

        kubectl.ok(&[
            "create",
            "rolebinding",
            "client-view",
            "-n",
            NS,
            "--clusterrole=view",
            &format!("--serviceaccount={NS}:default"),
        ])?;
        wait_for(
            "kubectl in the pod listing pods",
            Duration::from_secs(30),
            Duration::from_millis(500),
            || {
                let (out, err, code) = in_pod(&kubectl, "client", "kubectl get pods")?;
                ensure!(code == 0, "exit {code}: {err}");
                ensure!(
                    out.contains("client") && out.contains("no-token") && out.contains("Running"),
                    "{out}"
                );
                Ok(())
            },
        )?;

        // No token for a pod that opts out.
        let (out, _, code) = in_pod(&kubectl, "no-token", &format!("ls {SA_DIR}"))?;
        ensure!(code != 0, "{SA_DIR} exists without automount: {out}");
        let (env, _, _) = in_pod(&kubectl, "no-token", "env")?;
        ensure!(
            env.contains("KUBERNETES_SERVICE_HOST=10.43.0.1"),
            "the kubernetes Service's variables are for every pod: {env}"
        );
        Ok(())
    });
}
