//! Pod volumes on a joined node, with real containers:
//! - scenario 6 verbatim: a `game-config` ConfigMap, then the user's `game-volume.yaml`
//!   → Completed, its logs show the file;
//! - a missing ConfigMap keeps the pod ContainerCreating with the kubelet's message
//!   until it is created; an update reaches a running pod's mounted file;
//! - a secret is a tmpfs inside the container and on the node, never on disk;
//! - two containers share an emptyDir; one on disk past its sizeLimit evicts the pod;
//!   hostPath types (a mismatch waits with the
//!   kubelet's message); downwardAPI and projected volumes; subPath;
//! - `kill -9` of the agent: the re-adopted pod keeps its volumes (same tmpfs, same
//!   files); churn leaves no mounts or directories behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use skiff_e2e::pods::{container_id, container_status, phase, pod_uid};
use skiff_e2e::process::mounts_under;
use skiff_e2e::{wait_for, ClusterEnv, TestControlPlane};

const WAIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(300);

fn pod(cp: &TestControlPlane, name: &str) -> anyhow::Result<Value> {
    cp.get_json("pod", name)
}

fn wait_phase(cp: &TestControlPlane, name: &str, want: &str) -> anyhow::Result<Value> {
    wait_for(&format!("pod {name} {want}"), WAIT, POLL, || {
        let p = pod(cp, name)?;
        if phase(&p) == want && (want != "Running" || all_running(&p)) {
            Ok(p)
        } else {
            bail!("phase {:?}, status {}", phase(&p), p["status"])
        }
    })
}

fn all_running(p: &Value) -> bool {
    p["status"]["containerStatuses"]
        .as_array()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|c| c["state"]["running"].is_object()))
}

/// Waits until `container` waits with `reason` and a message containing `needle`.
fn wait_waiting(
    cp: &TestControlPlane,
    name: &str,
    container: &str,
    reason: &str,
    needle: &str,
) -> anyhow::Result<String> {
    wait_for(&format!("{name}/{container} {reason}"), WAIT, POLL, || {
        let p = pod(cp, name)?;
        let waiting =
            &container_status(&p, container).context("no status yet")?["state"]["waiting"];
        let message = waiting["message"].as_str().unwrap_or_default();
        if waiting["reason"] == reason && message.contains(needle) {
            Ok(message.to_string())
        } else {
            bail!(
                "state {}",
                container_status(&p, container).unwrap_or(&Value::Null)
            )
        }
    })
}

fn wait_logs(
    cp: &TestControlPlane,
    name: &str,
    container: &str,
    needle: &str,
) -> anyhow::Result<String> {
    wait_for(
        &format!("{needle:?} in the logs of {name}/{container}"),
        WAIT,
        POLL,
        || {
            let logs = cp.skiff(&["logs", name, "-c", container])?;
            if logs.contains(needle) {
                Ok(logs)
            } else {
                bail!("logs: {logs}")
            }
        },
    )
}

fn delete_and_wait_gone(env: &ClusterEnv, name: &str, dir: &Path) -> anyhow::Result<()> {
    env.cp.skiff(&["delete", "pod", name])?;
    wait_for(&format!("{} removed", dir.display()), WAIT, POLL, || {
        let mounts = mounts_under(dir);
        if dir.exists() || !mounts.is_empty() {
            bail!("still there; mounts {mounts:?}")
        }
        Ok(())
    })
}

/// `<agent root>/pods/<ns>_<name>_<uid>`
fn pod_dir(env: &ClusterEnv, p: &Value) -> PathBuf {
    env.node.agent.root().join("pods").join(format!(
        "default_{}_{}",
        p["metadata"]["name"].as_str().unwrap_or_default(),
        pod_uid(p)
    ))
}

/// The filesystem type mounted exactly at `path`, from this process' mountinfo.
fn mount_type(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    table.lines().rev().find_map(|line| {
        let (fields, fs) = line.split_once(" - ")?;
        let point = fields.split(' ').nth(4)?;
        (Path::new(point) == path).then(|| fs.split(' ').next().unwrap_or("").to_string())
    })
}

const GAME_CONFIG: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: game-config
data:
  game.properties: |
    enemies=aliens
    lives=3
    enemies.cheat=true
  ui.properties: |
    color.good=purple
    how.nice.to.look=fairlyNice
";

#[test]
fn scenario_6_the_game_volume_prints_its_config_map_and_completes() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml("game-config.yaml", GAME_CONFIG)?;
        let manifest = ClusterEnv::user_manifest("game-volume.yaml");
        cp.skiff(&["apply", "-f", manifest.to_str().unwrap_or_default()])?;
        let done = wait_phase(cp, "game-volume", "Succeeded")?;
        let listed = cp.skiff(&["get", "pods"])?;
        ensure!(listed.contains("Completed"), "get pods: {listed}");
        let logs = cp.skiff(&["logs", "game-volume"])?;
        ensure!(
            logs.contains("enemies=aliens") && logs.contains("lives=3"),
            "logs: {logs}"
        );
        delete_and_wait_gone(env, "game-volume", &pod_dir(env, &done))
    });
}

#[test]
fn a_missing_config_map_waits_then_starts_and_updates_reach_the_running_pod() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml(
            "watcher.yaml",
            "apiVersion: v1
kind: Pod
metadata:
  name: watcher
spec:
  containers:
  - name: main
    image: busybox:latest
    command: [sh, -c, 'while true; do echo \"color=$(cat /etc/config/color)\"; sleep 1; done']
    volumeMounts:
    - {name: config, mountPath: /etc/config}
  volumes:
  - name: config
    configMap: {name: settings}
",
        )?;
        let message = wait_waiting(cp, "watcher", "main", "ContainerCreating", "settings")?;
        ensure!(
            message == "MountVolume.SetUp failed for volume \"config\" : configmap \"settings\" not found",
            "message: {message}"
        );
        ensure!(phase(&pod(cp, "watcher")?) == "Pending");
        let cm = |color: &str| {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: {color}\n")
        };
        cp.apply_yaml("settings.yaml", &cm("blue"))?;
        let running = wait_phase(cp, "watcher", "Running")?;
        wait_logs(cp, "watcher", "main", "color=blue")?;
        cp.apply_yaml("settings.yaml", &cm("green"))?;
        // Kubernetes promises about a minute.
        wait_for(
            "the update in the pod",
            Duration::from_secs(60),
            POLL,
            || {
                let logs = cp.skiff(&["logs", "watcher"])?;
                ensure!(logs.contains("color=green"), "logs: {logs}");
                Ok(())
            },
        )?;
        ensure!(
            container_id(&pod(cp, "watcher")?, "main") == container_id(&running, "main"),
            "the container was restarted instead of updated"
        );
        delete_and_wait_gone(env, "watcher", &pod_dir(env, &running))
    });
}

#[test]
fn a_secret_is_a_tmpfs_inside_the_container_and_never_on_disk() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml(
            "secret.yaml",
            "apiVersion: v1
kind: Secret
metadata:
  name: db
data:
  password: aHVudGVyMg==
",
        )?;
        cp.apply_yaml(
            "secret-pod.yaml",
            "apiVersion: v1
kind: Pod
metadata:
  name: secret-user
spec:
  containers:
  - name: main
    image: busybox:latest
    command: [sh, -c, 'grep \" /etc/db \" /proc/mounts; cat /etc/db/password; echo; ls -l /etc/db/; sleep 3600']
    volumeMounts:
    - {name: db, mountPath: /etc/db}
  volumes:
  - name: db
    secret: {secretName: db, defaultMode: 256}  # 0400
",
        )?;
        let p = wait_phase(cp, "secret-user", "Running")?;
        let logs = wait_logs(cp, "secret-user", "main", "hunter2")?;
        ensure!(
            logs.lines()
                .any(|l| l.starts_with("tmpfs /etc/db tmpfs ro")),
            "not a read-only tmpfs inside the container: {logs}"
        );
        ensure!(
            logs.contains("password -> ..data/password"),
            "layout: {logs}"
        );
        let host = pod_dir(env, &p).join("volumes/kubernetes.io~secret/db");
        ensure!(
            mount_type(&host).as_deref() == Some("tmpfs"),
            "{} is not a tmpfs on the node: {:?}",
            host.display(),
            mount_type(&host)
        );
        let exec = cp.skiff(&[
            "exec",
            "secret-user",
            "--",
            "stat",
            "-L",
            "-c",
            "%a",
            "/etc/db/password",
        ])?;
        ensure!(exec.trim() == "400", "mode: {exec}");
        delete_and_wait_gone(env, "secret-user", &pod_dir(env, &p))
    });
}

#[test]
fn two_containers_share_an_empty_dir_removed_with_the_pod() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml(
            "shared.yaml",
            "apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  containers:
  - name: writer
    image: busybox:latest
    command: [sh, -c, 'echo hello-from-writer > /data/msg; sleep 3600']
    volumeMounts:
    - {name: data, mountPath: /data}
  - name: reader
    image: busybox:latest
    command: [sh, -c, 'until [ -f /in/msg ]; do sleep 0.2; done; cat /in/msg; grep \" /cache \" /proc/mounts; sleep 3600']
    volumeMounts:
    - {name: data, mountPath: /in, readOnly: true}
    - {name: cache, mountPath: /cache}
  volumes:
  - name: data
    emptyDir: {}
  - name: cache
    emptyDir: {medium: Memory, sizeLimit: 1Mi}
",
        )?;
        let p = wait_phase(cp, "shared", "Running")?;
        let logs = wait_logs(cp, "shared", "reader", "hello-from-writer")?;
        ensure!(
            logs.contains("tmpfs /cache tmpfs"),
            "cache not a tmpfs: {logs}"
        );
        let denied =
            cp.skiff_output(&["exec", "shared", "-c", "reader", "--", "touch", "/in/x"])?;
        ensure!(!denied.status.success(), "a readOnly mount was writable");
        let dir = pod_dir(env, &p).join("volumes/kubernetes.io~empty-dir/data");
        ensure!(
            std::fs::read_to_string(dir.join("msg"))?.trim() == "hello-from-writer",
            "the emptyDir is not on the node's disk under {}",
            dir.display()
        );
        delete_and_wait_gone(env, "shared", &pod_dir(env, &p))
    });
}

#[test]
fn host_path_types_are_checked_and_a_mismatch_waits_with_the_kubelets_message() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        let base = env.cp.scratch().join("host-paths");
        std::fs::create_dir_all(&base)?;
        let wrong = base.join("not-a-dir");
        std::fs::write(&wrong, "a file")?;
        let made = base.join("made/by/kubelet");
        let yaml = format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: host-user
spec:
  containers:
  - name: main
    image: busybox:latest
    command: [sh, -c, 'echo written > /made/out; ls /want; sleep 3600']
    volumeMounts:
    - {{name: want, mountPath: /want}}
    - {{name: made, mountPath: /made}}
  volumes:
  - name: want
    hostPath: {{path: {wrong}, type: Directory}}
  - name: made
    hostPath: {{path: {made}, type: DirectoryOrCreate}}
",
            wrong = wrong.display(),
            made = made.display()
        );
        cp.apply_yaml("host-user.yaml", &yaml)?;
        let message = wait_waiting(cp, "host-user", "main", "ContainerCreating", "hostPath")?;
        ensure!(
            message
                == format!(
                    "MountVolume.SetUp failed for volume \"want\" : hostPath type check failed: {} is not a directory",
                    wrong.display()
                ),
            "message: {message}"
        );
        // Fixed on the node: the retry finds a directory and the pod starts.
        std::fs::remove_file(&wrong)?;
        std::fs::create_dir(&wrong)?;
        std::fs::write(wrong.join("marker"), "")?;
        let p = wait_phase(cp, "host-user", "Running")?;
        wait_logs(cp, "host-user", "main", "marker")?;
        wait_for("the file on the host", WAIT, POLL, || {
            ensure!(std::fs::read_to_string(made.join("out"))?.trim() == "written");
            Ok(())
        })?;
        delete_and_wait_gone(env, "host-user", &pod_dir(env, &p))?;
        ensure!(
            made.join("out").exists(),
            "a hostPath's content went with the pod"
        );
        Ok(())
    });
}

#[test]
fn downward_api_projected_and_sub_path_volumes() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml(
            "app-config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  app.conf: mode=fast\n  other: x\n",
        )?;
        cp.apply_yaml(
            "info.yaml",
            "apiVersion: v1
kind: Pod
metadata:
  name: info
  labels: {app: info, tier: demo}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:latest
    command: [sh, -c, 'cat /info/labels; echo; echo name=$(cat /info/name); echo mem=$(cat /info/mem); echo conf=$(cat /all/conf/app.conf); echo ns=$(cat /all/ns); echo single=$(cat /etc/app.conf); ls /all']
    resources:
      limits: {memory: 64Mi}
    volumeMounts:
    - {name: info, mountPath: /info}
    - {name: all, mountPath: /all}
    - {name: app, mountPath: /etc/app.conf, subPath: app.conf}
  volumes:
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: mem, resourceFieldRef: {containerName: main, resource: limits.memory, divisor: 1Mi}}
  - name: all
    projected:
      sources:
      - configMap: {name: app, items: [{key: app.conf, path: conf/app.conf}]}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
  - name: app
    configMap: {name: app}
",
        )?;
        let p = wait_phase(cp, "info", "Succeeded")?;
        let logs = cp.skiff(&["logs", "info"])?;
        for want in [
            "app=\"info\"\ntier=\"demo\"",
            "name=info",
            "mem=64",
            "conf=mode=fast",
            "ns=default",
            "single=mode=fast",
        ] {
            ensure!(logs.contains(want), "{want:?} missing from: {logs}");
        }
        delete_and_wait_gone(env, "info", &pod_dir(env, &p))
    });
}

#[test]
fn agent_kill_9_keeps_the_volumes_of_re_adopted_pods_and_churn_leaves_nothing() {
    ClusterEnv::run(|env| {
        env.cp.apply_yaml(
            "token.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\ndata:\n  token: dDBwczNjcmV0\n",
        )?;
        let yaml = |name: &str| {
            format!(
                "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: main
    image: busybox:latest
    command: [sh, -c, 'echo kept > /scratch/note; echo mem > /mem/note; sleep 3600']
    volumeMounts:
    - {{name: scratch, mountPath: /scratch}}
    - {{name: mem, mountPath: /mem}}
    - {{name: token, mountPath: /token}}
  volumes:
  - name: scratch
    emptyDir: {{}}
  - name: mem
    emptyDir: {{medium: Memory}}
  - name: token
    secret: {{secretName: token}}
"
            )
        };
        env.cp.apply_yaml("keeper.yaml", &yaml("keeper"))?;
        let before = wait_phase(&env.cp, "keeper", "Running")?;
        let dir = pod_dir(env, &before);
        wait_for("the notes written", WAIT, POLL, || {
            let out = env.cp.skiff(&[
                "exec",
                "keeper",
                "--",
                "cat",
                "/scratch/note",
                "/mem/note",
                "/token/token",
            ])?;
            ensure!(
                out.contains("kept") && out.contains("mem") && out.contains("t0ps3cret"),
                "{out}"
            );
            Ok(())
        })?;
        let mounts_before = mounts_under(&dir);
        // The memory emptyDir, the secret and the service account's kube-api-access
        // volume (projected: a tmpfs of its own).
        ensure!(mounts_before.len() == 3, "tmpfs mounts: {mounts_before:?}");

        env.node.agent.kill9();
        env.node.agent.restart()?;
        wait_for("the pod re-adopted", WAIT, POLL, || {
            let p = pod(&env.cp, "keeper")?;
            ensure!(
                all_running(&p) && container_id(&p, "main") == container_id(&before, "main"),
                "status {}",
                p["status"]
            );
            Ok(())
        })?;
        // Give the restarted agent's set-up a moment, then check nothing was stacked or lost.
        std::thread::sleep(Duration::from_secs(3));
        ensure!(
            mounts_under(&dir) == mounts_before,
            "mounts changed: {:?}",
            mounts_under(&dir)
        );
        let out = env.cp.skiff(&[
            "exec",
            "keeper",
            "--",
            "cat",
            "/scratch/note",
            "/mem/note",
            "/token/token",
        ])?;
        ensure!(
            out.contains("kept") && out.contains("mem") && out.contains("t0ps3cret"),
            "after the restart: {out}"
        );

        // Churn: pods with tmpfs volumes come and go; nothing stays behind.
        for round in 0..3 {
            let names: Vec<String> = (0..4).map(|i| format!("churn-{round}-{i}")).collect();
            for name in &names {
                env.cp.apply_yaml(&format!("{name}.yaml"), &yaml(name))?;
            }
            for name in &names {
                wait_phase(&env.cp, name, "Running")?;
            }
            for name in &names {
                env.cp.skiff(&["delete", "pod", name])?;
            }
        }
        delete_and_wait_gone(env, "keeper", &dir)?;
        let pods_dir = env.node.agent.root().join("pods");
        wait_for("no pod directories or mounts left", WAIT, POLL, || {
            let left: Vec<_> = std::fs::read_dir(&pods_dir)
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            let mounts = mounts_under(&pods_dir);
            ensure!(
                left.is_empty() && mounts.is_empty(),
                "left: {left:?}, mounts: {mounts:?}"
            );
            Ok(())
        })?;
        Ok(())
    });
}

#[test]
fn an_empty_dir_past_its_size_limit_evicts_the_pod() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml(
            "filler.yaml",
            "apiVersion: v1
kind: Pod
metadata:
  name: filler
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    command: [sh, -c, 'sleep 2; dd if=/dev/zero of=/scratch/fill bs=1024 count=2048; sleep 3600']
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
  volumes:
  - name: scratch
    emptyDir: {sizeLimit: 1Mi}
",
        )?;
        let p = wait_phase(cp, "filler", "Failed")?;
        ensure!(p["status"]["reason"] == "Evicted", "status {}", p["status"]);
        ensure!(
            p["status"]["message"]
                == "Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Mi\".",
            "status {}",
            p["status"]
        );
        wait_for("the container stopped", WAIT, POLL, || {
            let p = pod(cp, "filler")?;
            ensure!(!all_running(&p), "status {}", p["status"]);
            Ok(())
        })?;
        delete_and_wait_gone(env, "filler", &pod_dir(env, &p))
    });
}
