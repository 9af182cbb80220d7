//! The real helm v4 against skiff, as a user runs it: the chart `helm create` makes, with
//! its image set to the local nginx stand-in, on a one-node cluster:
//! - `helm install --wait` (server-side apply, the default): STATUS deployed, the
//!   Deployment's pod Ready, the Service and the ServiceAccount there; `helm list`;
//! - `helm upgrade --wait` to 2 replicas, `helm history` with both revisions, `helm
//!   rollback demo 1 --wait` back to 1 replica, `helm uninstall --wait` leaving nothing
//!   the chart made (deployment, service, serviceaccount, pods, release Secrets);
//! - the same with `--server-side=false` (helm 4's client-side apply: create, then
//!   three-way strategic merge patches); which of the two wrote shows in the Deployment's
//!   managedFields (helm's entries `Apply`, or `Update`);
//! - a one-ConfigMap chart on a control plane alone: `--set` reaches the object.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::Value;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::workloads::{image, is_ready};
use skiff_e2e::{wait_for, ClusterEnv, TestControlPlane};

const WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(300);
/// helm's own limit per wait; under the test's, so a hang fails with helm's words.
const HELM_TIMEOUT: &str = "--timeout=100s";
/// The nginx stand-in (`tests/src/env.rs`: `library/nginx:latest` through the mirror),
/// which answers `GET /` on port 80, what the chart's probes ask.
const IMAGE: &str = "image.repository=nginx,image.tag=latest";
/// What `helm create demo` names everything (`demo.fullname` of release `demo`).
const NAME: &str = "demo";
const SELECTOR: &str = "app.kubernetes.io/instance=demo,app.kubernetes.io/name=demo";

/// The words of the table row that starts with `name`.
fn row<'a>(table: &'a str, name: &str) -> Option<Vec<&'a str>> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|words| words.first() == Some(&name))
}

/// `helm create demo` into `dir`: the chart every helm user starts from.
fn create_chart(helm: &Kubectl, dir: &Path) -> anyhow::Result<String> {
    let created = helm.ok(&["create", dir.join(NAME).to_str().context("path")?])?;
    ensure!(created.contains("Creating"), "{created}");
    Ok(dir.join(NAME).to_string_lossy().into_owned())
}

/// The pods of the release, as `kubectl get pods -l ... -o json` lists them.
fn pods(k: &Kubectl) -> anyhow::Result<Vec<Value>> {
    let list: Value = serde_json::from_str(&k.ok(&["get", "pods", "-l", SELECTOR, "-o", "json"])?)?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// Right after a `--wait` returned: the Deployment wants and has `n` ready replicas,
/// with `n` ready pods of the stand-in (terminating ones of a scale-down may linger).
fn deployment_ready(k: &Kubectl, n: u64) -> anyhow::Result<()> {
    let deploy: Value = serde_json::from_str(&k.ok(&["get", "deployment", NAME, "-o", "json"])?)?;
    ensure!(
        deploy["spec"]["replicas"] == n && deploy["status"]["readyReplicas"] == n,
        "deployment wants {} has {} ready, expected {n}",
        deploy["spec"]["replicas"],
        deploy["status"]["readyReplicas"]
    );
    let pods = pods(k)?;
    let ready = pods
        .iter()
        .filter(|p| {
            is_ready(p)
                && image(p) == "nginx:latest"
                && p["metadata"]["deletionTimestamp"].is_null()
        })
        .count();
    ensure!(ready as u64 == n, "{ready} ready pods of {}", pods.len());
    Ok(())
}

/// helm's output without the version-skew and deprecation chatter: the line that
/// `helm history` prints for `revision`.
fn history_row(history: &str, revision: &str) -> Option<String> {
    row(history, revision).map(|words| words.join(" "))
}

/// The operations of helm's entries in the Deployment's `managedFields` (`Apply` for
/// server-side apply, `Update` for client-side writes), as `kubectl get
/// --show-managed-fields` shows them.
fn helm_operations(k: &Kubectl) -> anyhow::Result<Vec<String>> {
    let deploy: Value = serde_json::from_str(&k.ok(&[
        "get",
        "deployment",
        NAME,
        "-o",
        "json",
        "--show-managed-fields",
    ])?)?;
    let entries = deploy["metadata"]["managedFields"].as_array().cloned();
    Ok(entries
        .unwrap_or_default()
        .iter()
        .filter(|e| e["manager"].as_str().is_some_and(|m| m.starts_with("helm")))
        .filter_map(|e| e["operation"].as_str().map(str::to_string))
        .collect())
}

/// Install, upgrade, history, rollback and uninstall of `helm create`'s chart, every
/// write with `apply` (`[]` for helm's default server-side apply), which shows in the
/// Deployment's managed fields as `operation`.
fn chart_lifecycle(env: &ClusterEnv, apply: &[&str], operation: &str) -> anyhow::Result<()> {
    let helm = Kubectl::helm_for_cluster(&env.cp)?;
    let k = Kubectl::for_cluster(&env.cp)?;
    let chart = create_chart(&helm, env.cp.scratch())?;
    fn with<'a>(args: &[&'a str], apply: &[&'a str]) -> Vec<&'a str> {
        [args, apply].concat()
    }

    let installed = helm.ok(&with(
        &[
            "install",
            NAME,
            &chart,
            "--set",
            IMAGE,
            "--wait",
            HELM_TIMEOUT,
        ],
        apply,
    ))?;
    ensure!(installed.contains("STATUS: deployed"), "{installed}");
    deployment_ready(&k, 1)?;
    let service: Value = serde_json::from_str(&k.ok(&["get", "service", NAME, "-o", "json"])?)?;
    ensure!(
        service["spec"]["type"] == "ClusterIP"
            && service["spec"]["ports"][0]["port"] == 80
            && service["spec"]["ports"][0]["targetPort"] == "http"
            && service["spec"]["clusterIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.43.")),
        "{service}"
    );
    let account: Value =
        serde_json::from_str(&k.ok(&["get", "serviceaccount", NAME, "-o", "json"])?)?;
    ensure!(account["automountServiceAccountToken"] == true, "{account}");
    let listed = helm.ok(&["list"])?;
    let demo = row(&listed, NAME).with_context(|| format!("demo in {listed}"))?;
    ensure!(
        demo.contains(&"deployed") && demo.contains(&"demo-0.1.0"),
        "{listed}"
    );

    let upgraded = helm.ok(&with(
        &[
            "upgrade",
            NAME,
            &chart,
            "--set",
            IMAGE,
            "--set",
            "replicaCount=2",
            "--wait",
            HELM_TIMEOUT,
        ],
        apply,
    ))?;
    ensure!(
        upgraded.contains("STATUS: deployed") && upgraded.contains("REVISION: 2"),
        "{upgraded}"
    );
    deployment_ready(&k, 2)?;
    let operations = helm_operations(&k)?;
    ensure!(
        !operations.is_empty() && operations.iter().all(|o| o == operation),
        "helm's managedFields operations {operations:?}, expected {operation}"
    );
    let history = helm.ok(&["history", NAME])?;
    let (first, second) = (history_row(&history, "1"), history_row(&history, "2"));
    ensure!(
        first.is_some_and(|r| r.contains("superseded") && r.contains("Install complete"))
            && second.is_some_and(|r| r.contains("deployed") && r.contains("Upgrade complete")),
        "{history}"
    );

    let rolled = helm.ok(&with(
        &["rollback", NAME, "1", "--wait", HELM_TIMEOUT],
        apply,
    ))?;
    ensure!(rolled.contains("Rollback was a success"), "{rolled}");
    deployment_ready(&k, 1)?;
    let history = helm.ok(&["history", NAME])?;
    ensure!(
        history_row(&history, "3")
            .is_some_and(|r| r.contains("deployed") && r.contains("Rollback to 1")),
        "{history}"
    );

    let removed = helm.ok(&["uninstall", NAME, "--wait", HELM_TIMEOUT])?;
    ensure!(
        removed.contains("release \"demo\" uninstalled"),
        "{removed}"
    );
    for kind in ["deployment", "service", "serviceaccount"] {
        let gone = k.run(&["get", kind, NAME])?;
        ensure!(
            !gone.success() && gone.stderr.contains("not found"),
            "{kind} {NAME} still there: {gone:?}"
        );
    }
    // helm keeps its releases in Secrets labelled owner=helm; uninstall removes them.
    let releases = k.ok(&["get", "secrets", "-l", "owner=helm,name=demo", "-o", "name"])?;
    ensure!(
        releases.trim().is_empty(),
        "release secrets left: {releases}"
    );
    let listed = helm.ok(&["list", "--short"])?;
    ensure!(listed.trim().is_empty(), "still listed: {listed}");
    wait_for("the chart's pods gone", WAIT, POLL, || {
        let left = pods(&k)?.len();
        ensure!(left == 0, "{left} pods left");
        Ok(())
    })
}

#[test]
fn helm_installs_upgrades_rolls_back_and_uninstalls_the_helm_create_chart() {
    ClusterEnv::run(|env| chart_lifecycle(env, &[], "Apply"));
}

#[test]
fn the_same_with_client_side_apply() {
    ClusterEnv::run(|env| chart_lifecycle(env, &["--server-side=false"], "Update"));
}

/// A chart of one ConfigMap, written into `dir`.
fn write_greeting_chart(dir: &Path) -> anyhow::Result<String> {
    let chart = dir.join("greeting-chart");
    std::fs::create_dir_all(chart.join("templates"))?;
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: greeting\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    )?;
    std::fs::write(chart.join("values.yaml"), "greeting: hello\n")?;
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n\
         data:\n  greeting: {{ .Values.greeting | quote }}\n",
    )?;
    Ok(chart.to_string_lossy().into_owned())
}

/// No containers: a control plane alone, so this runs in seconds.
#[test]
fn helm_installs_lists_and_uninstalls_a_configmap_chart() {
    let cp = TestControlPlane::start().expect("control plane");
    let helm = Kubectl::helm_for_cluster(&cp).unwrap();
    let k = Kubectl::for_cluster(&cp).unwrap();
    let chart = write_greeting_chart(cp.scratch()).unwrap();
    let installed = helm
        .ok(&["install", "greet", &chart, "--set", "greeting=hi", "--wait"])
        .unwrap();
    assert!(installed.contains("STATUS: deployed"), "{installed}");
    let greeting = k
        .ok(&[
            "get",
            "configmap",
            "greet-config",
            "-o",
            "jsonpath={.data.greeting}",
        ])
        .unwrap();
    assert_eq!(greeting, "hi");
    let listed = helm.ok(&["list"]).unwrap();
    let greet = row(&listed, "greet").unwrap_or_default();
    assert!(
        greet.contains(&"deployed") && greet.contains(&"greeting-0.1.0"),
        "{listed}"
    );
    let removed = helm.ok(&["uninstall", "greet"]).unwrap();
    assert!(
        removed.contains("release \"greet\" uninstalled"),
        "{removed}"
    );
    let gone = k.run(&["get", "configmap", "greet-config"]).unwrap();
    assert!(
        !gone.success() && gone.stderr.contains("not found"),
        "{gone:?}"
    );
}
