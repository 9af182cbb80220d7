//! Workloads end to end, through the CLI as the user's notes drive them, against a real
//! control plane and a joined node running real containers:
//! - scenario 2: the user's ReplicaSet keeps 3 pods and replaces a deleted one;
//!   `delete --cascade=orphan` keeps the pods, a plain delete takes them;
//! - scenario 3, verbatim: `set image ... nginx=nginx:1.11` crash-loops the new pods while
//!   the old ones keep serving, `rollout history` lists 2 revisions, `rollout undo
//!   --to-revision=1` brings back 3 ready pods of revision 1; deleting the Deployment
//!   leaves no pod;
//! - a rolling update of 10 replicas never has more than 13 pods or fewer than 8 ready
//!   (25%/25%), checked on every watch event.

use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::Value;
use skiff_e2e::pods::{pod_name, waiting_reason};
use skiff_e2e::workloads::{self, image, is_ready};
use skiff_e2e::{fatal, wait_for, ClusterEnv, TestControlPlane};

const WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(300);

fn manifest(name: &str) -> String {
    ClusterEnv::user_manifest(name)
        .to_string_lossy()
        .into_owned()
}

/// `get pods -l SELECTOR -o json` items.
fn pods(cp: &TestControlPlane, selector: &str) -> anyhow::Result<Vec<Value>> {
    let list: Value =
        serde_json::from_str(&cp.skiff(&["get", "pods", "-l", selector, "-o", "json"])?)?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// Waits for `n` ready pods of the selector, all with `wanted` image, and nothing else.
fn wait_ready(
    cp: &TestControlPlane,
    selector: &str,
    n: usize,
    wanted: &str,
) -> anyhow::Result<Vec<Value>> {
    wait_for(&format!("{n} ready pods of {wanted}"), WAIT, POLL, || {
        let pods = pods(cp, selector)?;
        let good = pods
            .iter()
            .filter(|p| is_ready(p) && image(p) == wanted)
            .count();
        if good == n && pods.len() == n {
            Ok(pods)
        } else {
            bail!("{good} of {} pods ready with {wanted}", pods.len())
        }
    })
}

fn names(pods: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = pods.iter().map(|p| pod_name(p).to_string()).collect();
    names.sort();
    names
}

#[test]
fn scenario_2_the_replica_set_replaces_a_deleted_pod_and_deletes_cascade() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        let selector = "app=my-nginx-pods-label";
        let applied = cp.skiff(&["apply", "-f", &manifest("replicaset-nginx.yaml")])?;
        ensure!(
            applied.contains("replicaset.apps/replicaset-nginx created"),
            "apply said: {applied}"
        );
        let before = names(&wait_ready(cp, selector, 3, "nginx:latest")?);
        ensure!(
            before
                .iter()
                .all(|n| n.starts_with("replicaset-nginx-")
                    && n.len() == "replicaset-nginx-".len() + 5),
            "{before:?}"
        );
        let table = cp.skiff(&["get", "rs"])?;
        ensure!(
            table.starts_with("NAME") && table.contains("DESIRED   CURRENT   READY   AGE"),
            "{table}"
        );
        ensure!(
            table.lines().any(|l| l.split_whitespace().take(4).eq([
                "replicaset-nginx",
                "3",
                "3",
                "3"
            ])),
            "{table}"
        );

        let deleted = cp.skiff(&["delete", "pod", &before[0]])?;
        ensure!(deleted.contains("deleted"), "{deleted}");
        let after = names(&wait_ready(cp, selector, 3, "nginx:latest")?);
        ensure!(
            !after.contains(&before[0]),
            "the deleted pod is back: {after:?}"
        );
        ensure!(
            after.iter().filter(|n| !before.contains(n)).count() == 1,
            "exactly one replacement: {before:?} -> {after:?}"
        );
        let described = cp.skiff(&["describe", "rs", "replicaset-nginx"])?;
        ensure!(
            described.contains("Replicas:               3 current / 3 desired"),
            "{described}"
        );

        // --cascade=orphan keeps the pods, without their owner.
        cp.skiff(&["delete", "rs", "replicaset-nginx", "--cascade=orphan"])?;
        std::thread::sleep(Duration::from_secs(2));
        let orphans = pods(cp, selector)?;
        ensure!(
            names(&orphans) == after,
            "orphaned pods: {:?}",
            names(&orphans)
        );
        ensure!(
            orphans
                .iter()
                .all(|p| p["metadata"].get("ownerReferences").is_none()),
            "still owned: {orphans:?}"
        );
        // A new ReplicaSet adopts them; deleting it takes them along.
        cp.skiff(&["apply", "-f", &manifest("replicaset-nginx.yaml")])?;
        wait_for("the pods adopted", WAIT, POLL, || {
            let pods = pods(cp, selector)?;
            let owned = pods
                .iter()
                .filter(|p| p["metadata"]["ownerReferences"][0]["name"] == "replicaset-nginx")
                .count();
            ensure!(
                names(&pods) == after && owned == 3,
                "{owned} of {:?} owned",
                names(&pods)
            );
            Ok(())
        })?;
        cp.skiff(&["delete", "rs", "replicaset-nginx"])?;
        wait_for("no pods left", WAIT, POLL, || {
            let left = pods(cp, selector)?;
            ensure!(left.is_empty(), "left: {:?}", names(&left));
            Ok(())
        })?;
        Ok(())
    });
}

#[test]
fn scenario_3_a_crash_looping_image_then_undo_to_revision_1() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        let selector = "app=my-nginx";
        let deploy = "my-nginx-deployment";
        cp.skiff(&["apply", "-f", &manifest("deployment-nginx.yaml")])?;
        let first = names(&wait_ready(cp, selector, 3, "nginx:latest")?);
        let status = cp.skiff(&[
            "rollout",
            "status",
            "deployment/my-nginx-deployment",
            "--timeout=60s",
        ])?;
        ensure!(
            status.contains("deployment \"my-nginx-deployment\" successfully rolled out"),
            "{status}"
        );

        let set = cp.skiff(&["set", "image", "deployment", deploy, "nginx=nginx:1.11"])?;
        ensure!(
            set.trim() == "deployment.apps/my-nginx-deployment image updated",
            "{set}"
        );
        // The new pod crash-loops; the old ones stay ready; never more than 4 pods.
        wait_for("a new pod in CrashLoopBackOff", WAIT, POLL, || {
            let pods = pods(cp, selector)?;
            if pods.len() > 4 {
                return Err(fatal(format!(
                    "{} pods: more than 3 + 25% surge",
                    pods.len()
                )));
            }
            let old_ready = pods
                .iter()
                .filter(|p| image(p) == "nginx:latest" && is_ready(p))
                .count();
            if old_ready < 3 {
                return Err(fatal(format!("only {old_ready} old pods ready")));
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
        let listed = cp.skiff(&["get", "pods"])?;
        ensure!(listed.contains("CrashLoopBackOff"), "{listed}");
        let pods_now = pods(cp, selector)?;
        ensure!(pods_now.len() == 4, "{} pods", pods_now.len());
        // The old pods keep serving.
        for name in &first {
            let page = cp.skiff(&["exec", name, "--", "wget", "-qO-", "http://127.0.0.1:80/"])?;
            ensure!(!page.trim().is_empty(), "{name} served nothing");
        }
        let history = cp.skiff(&["rollout", "history", "deployment/my-nginx-deployment"])?;
        let revisions: Vec<&str> = history
            .lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        ensure!(
            history.starts_with("deployment.apps/my-nginx-deployment") && revisions == ["1", "2"],
            "{history}"
        );
        // describe shows what the controller did, as kubectl's does.
        let described = cp.skiff(&["describe", "deployment", deploy])?;
        ensure!(
            described.contains("ScalingReplicaSet")
                && described.contains("Scaled up replica set my-nginx-deployment-"),
            "{described}"
        );
        let missing =
            cp.skiff_output(&["rollout", "undo", "deployment", deploy, "--to-revision=9"])?;
        let err = String::from_utf8_lossy(&missing.stderr);
        ensure!(
            !missing.status.success() && err.contains("revisions: 1, 2"),
            "{err}"
        );

        let undo = cp.skiff(&["rollout", "undo", "deployment", deploy, "--to-revision=1"])?;
        ensure!(
            undo.trim() == "deployment.apps/my-nginx-deployment rolled back",
            "{undo}"
        );
        wait_ready(cp, selector, 3, "nginx:latest")?;
        let rs = cp.skiff(&["get", "rs", "-o", "json"])?;
        let rs: Value = serde_json::from_str(&rs)?;
        let bad = rs["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.11");
        ensure!(
            bad.is_some_and(|r| r["spec"]["replicas"] == 0),
            "the nginx:1.11 replica set is not at 0: {bad:?}"
        );
        let table = cp.skiff(&["get", "deploy"])?;
        ensure!(
            table
                .lines()
                .any(|l| l.split_whitespace().take(4).eq([deploy, "3/3", "3", "3"])),
            "{table}"
        );
        let status = cp.skiff(&[
            "rollout",
            "status",
            "deploy/my-nginx-deployment",
            "--timeout=60s",
        ])?;
        ensure!(status.contains("successfully rolled out"), "{status}");

        cp.skiff(&["delete", "deployment", deploy])?;
        wait_for("no pods and no replica sets left", WAIT, POLL, || {
            let left = pods(cp, selector)?;
            let sets = cp.skiff(&["get", "rs", "-o", "name"])?;
            ensure!(
                left.is_empty() && sets.trim().is_empty(),
                "left: {:?} {sets}",
                names(&left)
            );
            Ok(())
        })?;
        Ok(())
    });
}

const ROLL10: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: roll10
spec:
  replicas: 10
  selector:
    matchLabels: {app: roll10}
  template:
    metadata:
      labels: {app: roll10}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: nginx:latest
";

#[test]
fn a_rolling_update_of_10_stays_within_its_bounds_on_every_watch_event() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        let selector = "app=roll10";
        cp.apply_yaml("roll10.yaml", ROLL10)?;
        wait_ready(cp, selector, 10, "nginx:latest")?;
        let wide = cp.skiff(&["get", "deploy", "roll10", "-o", "wide"])?;
        ensure!(
            wide.contains("CONTAINERS") && wide.contains("web") && wide.contains("app=roll10"),
            "{wide}"
        );

        let runtime = tokio::runtime::Runtime::new()?;
        let new_image = "alicek106/rr-test:echo-hostname";
        let (census, seen) = runtime.block_on(async {
            let api = workloads::api(cp).await?;
            let start = workloads::census(&api, selector).await?;
            cp.skiff(&["set", "image", "deploy/roll10", &format!("web={new_image}")])?;
            let mut largest = 0;
            let mut lowest = usize::MAX;
            // 25% of 10: surge 3 (rounded up), unavailable 2 (rounded down).
            let census = workloads::follow(&api, selector, start, WAIT, |c| {
                largest = largest.max(c.total());
                lowest = lowest.min(c.ready());
                ensure!(c.total() <= 13, "{} pods > 10 + 3", c.total());
                ensure!(c.ready() >= 8, "{} ready < 10 - 2", c.ready());
                Ok(c.ready_with_image(new_image) == 10 && c.total() == 10)
            })
            .await?;
            anyhow::Ok((census, (largest, lowest)))
        })?;
        ensure!(
            census.events >= 20,
            "only {} events: the rollout was not watched",
            census.events
        );
        ensure!(
            seen.0 > 10,
            "the rollout never surged: at most {} pods",
            seen.0
        );
        eprintln!(
            "rolling update: {} events, at most {} pods, at least {} ready",
            census.events, seen.0, seen.1
        );

        let history = cp.skiff(&["rollout", "history", "deploy/roll10"])?;
        ensure!(
            history
                .lines()
                .skip(2)
                .filter(|l| !l.trim().is_empty())
                .count()
                == 2,
            "{history}"
        );
        Ok(())
    });
}
