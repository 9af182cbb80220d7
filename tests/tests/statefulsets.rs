//! A StatefulSet on a joined node with real containers and the local-path provisioner:
//! the headless Service `web` and the set `web` (2 replicas, claim template `www`):
//! web-1 is created only once web-0 is Ready; claims www-web-0 and www-web-1 are Bound;
//! web-0's hostname is its name; a file written into web-0's volume is still there after
//! `skiff delete pod web-0` (the new web-0 mounts the same claim);
//! `web-0.web.default.svc.cluster.local` resolves from web-1 to web-0's IP; a rolling
//! update with partition 1 replaces web-1 and leaves web-0; scaling to 1
//! deletes web-1 and keeps its claim; `get sts` shows `1/1`.

use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::Value;
use skiff_e2e::{wait_for, ClusterEnv, TestControlPlane};

const WAIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(300);

/// Ready 4 s after its container starts, so web-1's wait is observable.
const WEB: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: None
  selector:
    app: sts-web
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 2
  selector:
    matchLabels:
      app: sts-web
  template:
    metadata:
      labels:
        app: sts-web
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
        readinessProbe:
          exec:
            command: ["true"]
          initialDelaySeconds: 4
          periodSeconds: 1
        volumeMounts:
        - name: www
          mountPath: /data
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 10Mi
"#;

fn ready_since(pod: &Value) -> Option<String> {
    let conditions = pod["status"]["conditions"].as_array()?;
    let ready = conditions
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")?;
    Some(ready["lastTransitionTime"].as_str()?.to_string())
}

fn get(cp: &TestControlPlane, kind: &str, name: &str) -> Option<Value> {
    cp.get_json(kind, name).ok()
}

/// The pod once it is Ready (and not `not_uid`, the one it replaces).
fn wait_ready(cp: &TestControlPlane, name: &str, not_uid: &str) -> anyhow::Result<Value> {
    wait_for(&format!("{name} Ready"), WAIT, POLL, || {
        let pod = cp.get_json("pod", name)?;
        ensure!(pod["metadata"]["uid"] != not_uid, "still the old {name}");
        ensure!(ready_since(&pod).is_some(), "{name}: {}", pod["status"]);
        Ok(pod)
    })
}

fn exec(cp: &TestControlPlane, pod: &str, script: &str) -> anyhow::Result<String> {
    cp.skiff(&["exec", pod, "--", "sh", "-c", script])
}

#[test]
fn a_statefulset_starts_in_order_keeps_its_data_and_names_and_scales_down_from_the_top() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens there: no lookup leaves the machine's loopback.
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.154\n").expect("write resolv.conf");
    let volumes = dir.path().join("local-path");
    let (resolv, volumes) = (resolv.display().to_string(), volumes.display().to_string());
    let agent_args = [
        "--resolv-conf",
        resolv.as_str(),
        "--local-path-dir",
        volumes.as_str(),
    ];
    ClusterEnv::run_with_args(&[], &agent_args, |env| {
        let cp = &env.cp;
        cp.apply_yaml("web.yaml", WEB)?;

        // OrderedReady: no web-1 while web-0 is not Ready.
        let web0 = wait_for("web-0 Ready", WAIT, POLL, || {
            let web0 = get(cp, "pod", "web-0");
            let web0_ready = web0.as_ref().and_then(ready_since);
            if let Some(web1) = get(cp, "pod", "web-1") {
                let created = web1["metadata"]["creationTimestamp"].as_str();
                match web0_ready.as_deref() {
                    Some(ready) if created >= Some(ready) => {}
                    _ => bail!("web-1 ({created:?}) exists before web-0 is Ready ({web0_ready:?})"),
                }
            }
            match web0 {
                Some(pod) if web0_ready.is_some() => Ok(pod),
                other => bail!("web-0: {:?}", other.map(|p| p["status"].clone())),
            }
        })
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let web1 = wait_ready(cp, "web-1", "")?;
        let (ready0, created1) = (
            ready_since(&web0).unwrap_or_default(),
            web1["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        ensure!(
            created1 >= ready0,
            "web-1 created {created1}, web-0 Ready {ready0}"
        );
        for claim in ["www-web-0", "www-web-1"] {
            wait_for(&format!("{claim} Bound"), WAIT, POLL, || {
                let pvc = cp.get_json("pvc", claim)?;
                ensure!(
                    pvc["status"]["phase"] == "Bound",
                    "{claim}: {}",
                    pvc["status"]
                );
                Ok(())
            })?;
        }
        let hostname = exec(cp, "web-0", "hostname")?;
        ensure!(hostname.trim() == "web-0", "hostname {hostname:?}");

        // The data outlives the pod: the new web-0 mounts the same claim.
        exec(cp, "web-0", "echo kept-by-web-0 > /data/hello.txt")?;
        let old_uid = web0["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        cp.skiff(&["delete", "pod", "web-0"])?;
        let web0 = wait_ready(cp, "web-0", &old_uid)?;
        let read = exec(cp, "web-0", "cat /data/hello.txt")?;
        ensure!(read.trim() == "kept-by-web-0", "after recreate: {read:?}");

        // The stable name, from the other pod.
        let ip = web0["status"]["podIP"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure!(!ip.is_empty(), "web-0 has no IP");
        let name = "web-0.web.default.svc.cluster.local";
        wait_for(
            &format!("{name} from web-1"),
            Duration::from_secs(30),
            POLL,
            || {
                let out = exec(cp, "web-1", &format!("nslookup {name} || true"))?;
                ensure!(
                    out.contains(&format!("Address: {ip}")),
                    "nslookup {name}: {out}"
                );
                Ok(())
            },
        )?;

        // A partitioned rolling update: web-1 (≥ partition 1) moves to the new revision,
        // web-0 stays as it is.
        let revision = |pod: &Value| pod["metadata"]["labels"]["controller-revision-hash"].clone();
        let web1 = cp.get_json("pod", "web-1")?;
        let updated = WEB
            .replace("  replicas: 2\n", "  replicas: 2\n  updateStrategy:\n    rollingUpdate:\n      partition: 1\n")
            .replace("        image: busybox\n", "        image: busybox\n        env:\n        - name: VERSION\n          value: \"2\"\n");
        cp.apply_yaml("web-v2.yaml", &updated)?;
        let web1_uid = web1["metadata"]["uid"].as_str().unwrap_or_default();
        let new_web1 = wait_ready(cp, "web-1", web1_uid)?;
        let sts = cp.get_json("statefulset", "web")?;
        ensure!(
            revision(&new_web1) == sts["status"]["updateRevision"]
                && revision(&new_web1) != revision(&web1),
            "web-1 at {} after the update, set: {}",
            revision(&new_web1),
            sts["status"]
        );
        let still = cp.get_json("pod", "web-0")?;
        ensure!(
            still["metadata"]["uid"] == web0["metadata"]["uid"]
                && revision(&still) == revision(&web0),
            "web-0 below the partition was replaced"
        );

        // Scale-down: web-1 goes, its claim stays.
        cp.skiff(&["scale", "statefulset", "web", "--replicas", "1"])?;
        wait_for("web-1 deleted", WAIT, POLL, || {
            match get(cp, "pod", "web-1") {
                Some(pod) => bail!("web-1 still there: {}", pod["status"]["phase"]),
                None => Ok(()),
            }
        })?;
        ensure!(
            get(cp, "pvc", "www-web-1").is_some(),
            "www-web-1 was deleted"
        );
        wait_for("get sts 1/1", WAIT, POLL, || {
            let table = cp.skiff(&["get", "sts"])?;
            let row: Vec<&str> = table
                .lines()
                .find(|l| l.starts_with("web "))
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            ensure!(
                table.starts_with("NAME") && row.get(1) == Some(&"1/1"),
                "{table}"
            );
            Ok(())
        })?;
        Ok(())
    });
}
