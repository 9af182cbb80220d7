//! The real kubectl v1.33 (and the kube crate) against skiff's REST API, running the
//! user's notes' commands verbatim on a one-node cluster, with the cluster's admin.conf
//! as the kubeconfig and the user's manifests as they are:
//! - credentials: the admin certificate of admin.conf, the admin token (`--token`, or a
//!   kubeconfig that holds only it), and 401 for a wrong token or none;
//! - the notes' commands: `kubectl version`, `get nodes`, `get ns`, `run`, `get po`,
//!   `get pods -o wide`, `describe pods`, `label node`, `apply -f` / `delete -f`;
//! - scenario 3: `apply -f deployment-nginx.yaml --record`, `set image ... --record`,
//!   `rollout history` with both CHANGE-CAUSEs, `rollout undo --to-revision=1`,
//!   `scale`, `delete -f`.
//!
//! helm v4 has its own file, `rest_helm.rs`.

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use serde_json::Value;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::pods::{pod_name, waiting_reason};
use skiff_e2e::workloads::{image, is_ready};
use skiff_e2e::{fatal, kube_client, wait_for, ClusterEnv, TestControlPlane};

const WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(300);

/// kubectl with the cluster's admin.conf, in the directory of the user's manifests so
/// `-f deployment-nginx.yaml` reads as in the notes.
fn kubectl(cp: &TestControlPlane) -> anyhow::Result<Kubectl> {
    let manifests = ClusterEnv::user_manifest("deployment-nginx.yaml");
    let dir = manifests.parent().context("manifests dir")?;
    Ok(Kubectl::for_cluster(cp)?.in_dir(dir))
}

/// `kubectl get pods -l SELECTOR -o json` items.
fn pods(k: &Kubectl, selector: &str) -> anyhow::Result<Vec<Value>> {
    let list: Value = serde_json::from_str(&k.ok(&["get", "pods", "-l", selector, "-o", "json"])?)?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// Waits for `n` ready pods of the selector with image `wanted`, and nothing else.
fn wait_ready(k: &Kubectl, selector: &str, n: usize, wanted: &str) -> anyhow::Result<()> {
    wait_for(&format!("{n} ready pods of {wanted}"), WAIT, POLL, || {
        let pods = pods(k, selector)?;
        let good = pods
            .iter()
            .filter(|p| is_ready(p) && image(p) == wanted)
            .count();
        ensure!(
            good == n && pods.len() == n,
            "{good} of {} pods ready with {wanted}",
            pods.len()
        );
        Ok(())
    })
}

/// The words of the table row that starts with `name`.
fn row<'a>(table: &'a str, name: &str) -> Option<Vec<&'a str>> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|words| words.first() == Some(&name))
}

#[test]
fn admin_conf_and_the_admin_token_reach_the_rest_api_and_nothing_else_does() {
    let cp = TestControlPlane::start().expect("control plane");
    let k = kubectl(&cp).unwrap();
    let raw = "/api/v1/namespaces/default";
    let ns: Value = serde_json::from_str(&k.ok(&["get", "--raw", raw]).unwrap()).unwrap();
    assert_eq!(ns["metadata"]["name"], "default", "{ns}");

    // `kubectl --token=$(cat admin-token)`, as README says, and a kubeconfig whose user
    // holds nothing but the token (no client certificate at all).
    let token = std::fs::read_to_string(cp.data().join("admin-token")).unwrap();
    let token = token.trim();
    let with_flag = k
        .ok(&["get", "--raw", raw, &format!("--token={token}")])
        .unwrap();
    assert!(with_flag.contains("\"default\""), "{with_flag}");
    let token_only = |user: &str| {
        let path = cp.scratch().join(format!("token-{}.conf", user.len()));
        let conf = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: t\n\
             clusters: [{{name: t, cluster: {{server: '{}', certificate-authority: '{}'}}}}]\n\
             contexts: [{{name: t, context: {{cluster: t, user: t}}}}]\n\
             users: [{{name: t, user: {user}}}]\n",
            cp.url,
            cp.data().join("pki/ca.crt").display()
        );
        std::fs::write(&path, conf).unwrap();
        Kubectl::new(&path, cp.scratch()).unwrap()
    };
    let by_token = token_only(&format!("{{token: '{token}'}}"));
    let listed = by_token
        .ok(&["get", "--raw", "/api/v1/namespaces"])
        .unwrap();
    assert!(listed.contains("kube-system"), "{listed}");

    let wrong = token_only("{token: 'not-the-token'}")
        .run(&["get", "--raw", raw])
        .unwrap();
    assert!(
        !wrong.success() && wrong.stderr.contains("Unauthorized"),
        "{wrong:?}"
    );
    // No credentials at all (kubectl would prompt for a password here): a 401 Status.
    let anonymous = std::process::Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "--cacert"])
        .arg(cp.data().join("pki/ca.crt"))
        .arg(format!("{}{raw}", cp.url))
        .output()
        .unwrap();
    let anonymous = String::from_utf8_lossy(&anonymous.stdout).into_owned();
    assert!(
        anonymous.ends_with("\n401")
            && anonymous.contains("\"kind\":\"Status\"")
            && anonymous.contains("\"reason\":\"Unauthorized\""),
        "{anonymous}"
    );

    // The kube crate with admin.conf.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(async {
            let client = kube_client::for_cluster(&cp).await?;
            let namespaces = kube::Api::<Namespace>::all(client.clone());
            let default = namespaces.get("default").await?;
            ensure!(default.metadata.uid.is_some(), "{default:?}");
            let pods = kube::Api::<Pod>::namespaced(client, "default");
            ensure!(pods.list(&Default::default()).await?.items.is_empty());
            anyhow::Ok(())
        })
        .unwrap();
}

#[test]
fn the_notes_kubectl_commands() {
    ClusterEnv::run(|env| {
        let k = kubectl(&env.cp)?;
        let version = k.ok(&["version"])?;
        ensure!(
            version.contains("Client Version: v1.33") && version.contains("Server Version: v"),
            "{version}"
        );

        let nodes = k.ok(&["get", "nodes"])?;
        ensure!(nodes.starts_with("NAME"), "{nodes}");
        let node = nodes
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next());
        let node = node.context("no node listed")?.to_string();
        ensure!(
            row(&nodes, &node).is_some_and(|r| r[1] == "Ready"),
            "{nodes}"
        );
        let namespaces = k.ok(&["get", "ns"])?;
        for ns in ["default", "kube-system"] {
            ensure!(
                row(&namespaces, ns).is_some_and(|r| r[1] == "Active"),
                "{namespaces}"
            );
        }

        let run = k.ok(&["run", "nginx", "--image=nginx"])?;
        ensure!(run.trim() == "pod/nginx created", "{run}");
        wait_for("nginx Running in get po", WAIT, POLL, || {
            let table = k.ok(&["get", "po"])?;
            ensure!(
                row(&table, "nginx").is_some_and(|r| r[1..3] == ["1/1", "Running"]),
                "{table}"
            );
            Ok(())
        })?;
        let wide = k.ok(&["get", "pods", "-o", "wide"])?;
        let header: Vec<&str> = wide
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        ensure!(
            header[..7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"],
            "{wide}"
        );
        let nginx = row(&wide, "nginx").context("nginx in -o wide")?;
        ensure!(
            nginx[6] == node && nginx[5].parse::<std::net::IpAddr>().is_ok(),
            "{wide}"
        );
        let described = k.ok(&["describe", "pods"])?;
        for line in [
            "Name:",
            "Namespace:",
            "Node:",
            "Status:",
            "IP:",
            "Containers:",
            "Events:",
        ] {
            ensure!(
                described.lines().any(|l| l.starts_with(line)),
                "no {line} in {described}"
            );
        }
        let on_node = described
            .lines()
            .filter(|l| l.starts_with("Node:"))
            .any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|v| v.starts_with(&format!("{node}/")))
            });
        ensure!(on_node && described.contains("Running"), "{described}");

        let applied = k.ok(&["apply", "-f", "nginx-pod.yaml"])?;
        ensure!(applied.trim() == "pod/my-nginx-pod created", "{applied}");
        let deleted = k.ok(&["delete", "-f", "nginx-pod.yaml"])?;
        ensure!(
            deleted.trim() == "pod \"my-nginx-pod\" deleted",
            "{deleted}"
        );
        let gone = k.run(&["get", "pod", "my-nginx-pod"])?;
        ensure!(
            !gone.success() && gone.stderr.contains("pods \"my-nginx-pod\" not found"),
            "{gone:?}"
        );
        let labeled = k.ok(&["label", "node", &node, "disktype=ssd"])?;
        ensure!(
            labeled.trim() == format!("node/{node} labeled"),
            "{labeled}"
        );
        let ssd = k.ok(&["get", "nodes", "-l", "disktype=ssd", "-o", "name"])?;
        ensure!(ssd.trim() == format!("node/{node}"), "{ssd}");

        Ok(())
    });
}

#[test]
fn scenario_3_with_kubectl_record_set_image_history_and_undo() {
    ClusterEnv::run(|env| {
        let k = kubectl(&env.cp)?;
        let (selector, deploy) = ("app=my-nginx", "my-nginx-deployment");
        let applied = k.ok(&["apply", "-f", "deployment-nginx.yaml", "--record"])?;
        ensure!(
            applied.trim() == "deployment.apps/my-nginx-deployment created",
            "{applied}"
        );
        wait_ready(&k, selector, 3, "nginx:latest")?;

        let set = k.ok(&[
            "set",
            "image",
            "deployment",
            deploy,
            "nginx=nginx:1.11",
            "--record",
        ])?;
        ensure!(
            set.trim() == "deployment.apps/my-nginx-deployment image updated",
            "{set}"
        );
        wait_for("a new pod in CrashLoopBackOff", WAIT, POLL, || {
            let pods = pods(&k, selector)?;
            if pods.len() > 4 {
                return Err(fatal(format!(
                    "{} pods: more than 3 + 25% surge",
                    pods.len()
                )));
            }
            let crashing = pods.iter().any(|p| {
                image(p) == "nginx:1.11" && waiting_reason(p, "nginx") == Some("CrashLoopBackOff")
            });
            ensure!(
                crashing,
                "no CrashLoopBackOff yet: {:?}",
                pods.iter()
                    .map(|p| (pod_name(p), image(p), waiting_reason(p, "nginx")))
                    .collect::<Vec<_>>()
            );
            Ok(())
        })?;
        let listed = k.ok(&["get", "pods"])?;
        ensure!(listed.contains("CrashLoopBackOff"), "{listed}");

        // kubectl records its own command line as each revision's change-cause.
        let history = k.ok(&["rollout", "history", "deployment", deploy])?;
        let lines: Vec<&str> = history.lines().collect();
        ensure!(
            lines.first() == Some(&"deployment.apps/my-nginx-deployment ")
                || lines.first() == Some(&"deployment.apps/my-nginx-deployment"),
            "{history}"
        );
        let cause = |revision: &str| {
            lines
                .iter()
                .find(|l| l.split_whitespace().next() == Some(revision))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        };
        ensure!(
            cause("1").as_deref()
                == Some("kubectl apply --filename=deployment-nginx.yaml --record=true")
                && cause("2").as_deref()
                    == Some("kubectl set image deployment my-nginx-deployment nginx=nginx:1.11 --record=true"),
            "{history}"
        );

        let undo = k.ok(&["rollout", "undo", "deployment", deploy, "--to-revision=1"])?;
        ensure!(
            undo.trim() == "deployment.apps/my-nginx-deployment rolled back",
            "{undo}"
        );
        wait_ready(&k, selector, 3, "nginx:latest")?;

        let scaled = k.ok(&["scale", "deployment", deploy, "--replicas=2"])?;
        ensure!(
            scaled.trim() == "deployment.apps/my-nginx-deployment scaled",
            "{scaled}"
        );
        wait_ready(&k, selector, 2, "nginx:latest")?;

        let deleted = k.ok(&["delete", "-f", "deployment-nginx.yaml"])?;
        ensure!(
            deleted.trim() == "deployment.apps \"my-nginx-deployment\" deleted",
            "{deleted}"
        );
        wait_for("the deployment's pods gone", WAIT, POLL, || {
            match pods(&k, selector)?.len() {
                0 => Ok(()),
                n => bail!("{n} pods left"),
            }
        })
    });
}
