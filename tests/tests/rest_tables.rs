//! The real kubectl's `get` against a joined node (issue 16, item 3): it asks for
//! `meta.k8s.io/v1` Tables and prints the server's columns, so what it shows here is
//! what it shows against Kubernetes — `get pods` (and `-o wide`), `get ns`, `get
//! nodes`, several kinds at once (`get deploy,rs,svc`, `get all`), and `get pods -w`
//! printing a new pod's row as it comes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::pods::phase;
use skiff_e2e::{wait_for, ClusterEnv};

/// A kubectl table: lines of cells, split where kubectl's tabwriter put two spaces or
/// more (cells such as `NOMINATED NODE` or `3 (20s ago)` hold single spaces).
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines().map(cells).collect()
}

fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `age` reads like kubectl's AGE (`5s`, `3m20s`, `2d`).
fn is_age(age: &str) -> bool {
    let units = age.trim_end_matches(|c: char| c.is_ascii_digit() || "smhdy".contains(c));
    units.is_empty() && age.ends_with(['s', 'm', 'h', 'd', 'y'])
}

/// The row whose first cell is `name`.
fn row<'a>(table: &'a [Vec<String>], name: &str) -> anyhow::Result<&'a Vec<String>> {
    table
        .iter()
        .find(|r| r.first().map(String::as_str) == Some(name))
        .with_context(|| format!("no row {name} in {table:?}"))
}

fn header(table: &[Vec<String>]) -> Vec<&str> {
    table
        .first()
        .map(|h| h.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Every pod of the deployment Running with an IP, through the skiff CLI.
/// The pod's Ready condition, which `kubectl get pods` prints as READY 1/1.
fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn wait_pods_running(env: &ClusterEnv, count: usize) -> anyhow::Result<Vec<Value>> {
    wait_for(
        "the deployment's pods Running",
        Duration::from_secs(90),
        Duration::from_millis(500),
        || {
            let list: Value = serde_json::from_str(&env.cp.skiff(&["get", "pods", "-o", "json"])?)?;
            let pods: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
            let running = pods
                .iter()
                .filter(|p| phase(p) == "Running" && p["status"]["podIP"].is_string() && ready(p))
                .count();
            ensure!(running == count, "{running} of {count} Running and Ready");
            Ok(pods)
        },
    )
}

/// `kubectl get pods -w`, its stdout lines arriving on a channel.
struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watching {
    fn start(kubectl: &Kubectl, args: &[&str]) -> anyhow::Result<Watching> {
        let mut child = kubectl
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("start kubectl get -w")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Watching { child, lines })
    }

    /// The next line that satisfies `want`, the ones before it collected into `seen`.
    fn until(
        &self,
        what: &str,
        timeout: Duration,
        seen: &mut Vec<String>,
        want: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return Ok(line),
                Ok(line) => seen.push(line),
                Err(_) => bail!("no line with {what} within {timeout:?}; saw {seen:#?}"),
            }
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kubectl_get_prints_the_servers_tables() {
    ClusterEnv::run(|env| {
        let kubectl = Kubectl::for_cluster(&env.cp)?;

        let ns = table(&kubectl.ok(&["get", "ns"])?);
        ensure!(header(&ns) == ["NAME", "STATUS", "AGE"], "get ns: {ns:?}");
        for name in ["default", "kube-system"] {
            let r = row(&ns, name)?;
            ensure!(r[1] == "Active" && is_age(&r[2]), "{name}: {r:?}");
        }

        let nodes = table(&kubectl.ok(&["get", "nodes"])?);
        ensure!(
            header(&nodes) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
            "get nodes: {nodes:?}"
        );
        let node: Value = serde_json::from_str(&env.cp.skiff(&["get", "nodes", "-o", "json"])?)?;
        let node = &node["items"][0];
        let node_name = node["metadata"]["name"].as_str().unwrap_or_default();
        let r = row(&nodes, node_name)?;
        let version = node["status"]["nodeInfo"]["kubeletVersion"].as_str();
        ensure!(
            r[1] == "Ready" && r[2] == "<none>" && is_age(&r[3]) && Some(r[4].as_str()) == version,
            "node row {r:?}, kubelet version {version:?}"
        );

        let manifest = ClusterEnv::user_manifest("deployment-nginx.yaml");
        env.cp
            .skiff(&["apply", "-f", manifest.to_str().unwrap_or_default()])?;
        let svc = ClusterEnv::user_manifest("hostname-svc-nodeport.yaml");
        env.cp
            .skiff(&["apply", "-f", svc.to_str().unwrap_or_default()])?;
        let pods = wait_pods_running(env, 3)?;

        let listed = table(&kubectl.ok(&["get", "pods"])?);
        ensure!(
            header(&listed) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "get pods: {listed:?}"
        );
        ensure!(listed.len() == 4, "three pods: {listed:?}");
        let wide = table(&kubectl.ok(&["get", "pods", "-o", "wide"])?);
        ensure!(
            header(&wide)
                == [
                    "NAME",
                    "READY",
                    "STATUS",
                    "RESTARTS",
                    "AGE",
                    "IP",
                    "NODE",
                    "NOMINATED NODE",
                    "READINESS GATES"
                ],
            "get pods -o wide: {wide:?}"
        );
        for pod in &pods {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let r = row(&listed, name)?;
            ensure!(
                r[1..4] == ["1/1", "Running", "0"] && is_age(&r[4]),
                "{name}: {r:?}"
            );
            let r = row(&wide, name)?;
            let ip = pod["status"]["podIP"].as_str().unwrap_or_default();
            ensure!(
                r[5..] == [ip, node_name, "<none>", "<none>"],
                "{name} -o wide: {r:?}"
            );
        }

        // Several kinds: one table each, names as kind.group/name, a blank line apart.
        let (text, blocks) = wait_for(
            "the deployment 3/3",
            Duration::from_secs(30),
            Duration::from_millis(500),
            || {
                let text = kubectl.ok(&["get", "deploy,rs,svc"])?;
                let blocks: Vec<Vec<Vec<String>>> = text.split("\n\n").map(table).collect();
                ensure!(blocks.len() == 3, "three tables: {text}");
                ensure!(
                    header(&blocks[0]) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
                    "{text}"
                );
                let deploy = row(&blocks[0], "deployment.apps/my-nginx-deployment")?;
                ensure!(deploy[1..4] == ["3/3", "3", "3"], "deployment: {deploy:?}");
                Ok((text, blocks))
            },
        )?;
        ensure!(
            header(&blocks[1]) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            "{text}"
        );
        let rs = blocks[1].get(1).context("a ReplicaSet row")?;
        ensure!(
            rs[0].starts_with("replicaset.apps/my-nginx-deployment-")
                && rs[1..4] == ["3", "3", "3"],
            "replicaset: {rs:?}"
        );
        ensure!(
            header(&blocks[2])
                == [
                    "NAME",
                    "TYPE",
                    "CLUSTER-IP",
                    "EXTERNAL-IP",
                    "PORT(S)",
                    "AGE"
                ],
            "{text}"
        );
        let svc: Value = serde_json::from_str(&env.cp.skiff(&[
            "get",
            "svc",
            "hostname-svc-nodeport",
            "-o",
            "json",
        ])?)?;
        let r = row(&blocks[2], "service/hostname-svc-nodeport")?;
        let cluster_ip = svc["spec"]["clusterIP"].as_str().unwrap_or_default();
        let port = &svc["spec"]["ports"][0];
        let ports = format!("{}:{}/TCP", port["port"], port["nodePort"]);
        ensure!(
            r[1..5] == ["NodePort", cluster_ip, "<none>", ports.as_str()],
            "service: {r:?}"
        );

        let all = kubectl.ok(&["get", "all"])?;
        for line in [
            "pod/my-nginx-deployment-",
            "service/hostname-svc-nodeport",
            "deployment.apps/my-nginx-deployment",
            "replicaset.apps/my-nginx-deployment-",
        ] {
            ensure!(all.contains(line), "get all lacks {line}: {all}");
        }
        let headers: Vec<Vec<String>> = all
            .split("\n\n")
            .filter_map(|block| block.lines().next().map(cells))
            .collect();
        ensure!(
            headers.contains(&cells("NAME  READY  STATUS  RESTARTS  AGE")),
            "get all headers: {headers:?}"
        );

        // get -w: the current pods, then a new pod's rows as it starts, no new header.
        let watching = Watching::start(&kubectl, &["get", "pods", "-w"])?;
        let mut seen = Vec::new();
        let first = watching.until("the header", Duration::from_secs(20), &mut seen, |l| {
            l.starts_with("NAME")
        })?;
        ensure!(
            cells(&first) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "{first}"
        );
        env.cp.apply_yaml(
            "watched.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: watched\nspec:\n  containers:\n  - name: web\n    image: nginx:latest\n",
        )?;
        // The row turns Running before the container is ready (0/1), then 1/1.
        let running = watching.until(
            "watched 1/1 Running",
            Duration::from_secs(60),
            &mut seen,
            |l| cells(l).get(..3) == Some(&["watched".into(), "1/1".into(), "Running".into()]),
        )?;
        let r = cells(&running);
        ensure!(r.len() == 5 && r[3] == "0" && is_age(&r[4]), "{running}");
        ensure!(
            !seen.iter().any(|l| l.starts_with("NAME")),
            "a header again: {seen:#?}"
        );
        ensure!(
            seen.iter()
                .any(|l| cells(l).first().map(String::as_str) == Some("watched")),
            "the pod's rows before Running: {seen:#?}"
        );
        Ok(())
    });
}
