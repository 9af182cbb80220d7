//! What a cluster keeps through trouble: every acknowledged apply after `kill -9` of the
//! control plane (and a second control plane on the same data dir refused), a node agent
//! frozen while one of its containers exits (the status arrives, nothing is duplicated),
//! and the user's `node-selector.yaml` waiting for a labelled node.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use skiff_e2e::agent::find_binary;
use skiff_e2e::pods::{container_status, phase, pod_uid, restart_count, shell_pod};
use skiff_e2e::{wait_for, ClusterEnv, TestControlPlane};

const APPLIES: usize = 50;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `skiff apply` of ConfigMap `cm-<i>` with the admin.conf at `config`; true when the
/// server acknowledged it (exit 0).
fn apply_configmap(config: &std::path::Path, dir: &std::path::Path, i: usize) -> bool {
    let path = dir.join(format!("cm-{i}.yaml"));
    let yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  n: \"{i}\"\n"
    );
    if std::fs::write(&path, yaml).is_err() {
        return false;
    }
    Command::new(find_binary("skiff").expect("skiff built"))
        .env("SKIFF_CONFIG", config)
        .args(["apply", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn every_acknowledged_apply_survives_kill_9_of_the_control_plane() {
    if !skiff_e2e::require_root_and_tools() {
        return;
    }
    let mut cp = TestControlPlane::start().expect("control plane");
    let config = cp.data().join("admin.conf");
    let dir = cp.scratch().join("applies");
    std::fs::create_dir_all(&dir).unwrap();

    let acked = AtomicUsize::new(0);
    let acknowledged: Vec<usize> = std::thread::scope(|s| {
        let applier = s.spawn(|| {
            let mut ok = Vec::new();
            for i in 0..APPLIES {
                if apply_configmap(&config, &dir, i) {
                    ok.push(i);
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            }
            ok
        });
        // In the middle of the run: some applies acknowledged, more under way.
        while acked.load(Ordering::SeqCst) < APPLIES / 3 && !applier.is_finished() {
            std::thread::sleep(Duration::from_millis(5));
        }
        cp.kill9();
        applier.join().expect("applier")
    });
    assert!(
        acknowledged.len() < APPLIES,
        "the kill came after all {APPLIES} applies; nothing was interrupted"
    );
    assert!(!acknowledged.is_empty(), "no apply was acknowledged");

    cp.restart().expect("restart on the same data dir");
    let listed = cp.skiff(&["get", "configmaps", "-o", "json"]).unwrap();
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|o| o["metadata"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for i in &acknowledged {
        let name = format!("cm-{i}");
        assert!(
            names.contains(&name.as_str()),
            "{name} was acknowledged before the kill but is gone after the restart (have {names:?})"
        );
    }

    // A second control plane on the same data dir refuses to start, and says why.
    let second = Command::new(find_binary("skiff-control-plane").unwrap())
        .arg("--data-dir")
        .arg(cp.data())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = text(&second.stderr);
    assert!(
        !second.status.success(),
        "a second control plane started: {stderr}"
    );
    assert!(
        stderr.contains("another skiff-control-plane")
            && stderr.contains(&format!("pid {}", cp.pid().unwrap())),
        "stderr: {stderr}"
    );
}

fn pod_json(cp: &TestControlPlane, name: &str) -> anyhow::Result<Value> {
    cp.get_json("pod", name)
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) -> anyhow::Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig)
        .with_context(|| format!("kill -{sig} {pid}"))
}

#[test]
fn a_frozen_agent_loses_no_status_and_duplicates_no_container() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml(
            "steady.yaml",
            &shell_pod("steady", "busybox", "sleep 100000", ""),
        )?;
        cp.apply_yaml(
            "brief.yaml",
            &shell_pod(
                "brief",
                "busybox",
                "sleep 4; exit 3",
                "  restartPolicy: Never\n",
            ),
        )?;
        let running = |name: &str| -> anyhow::Result<Value> {
            wait_for(
                "the pod Running",
                Duration::from_secs(60),
                Duration::from_millis(200),
                || {
                    let pod = pod_json(cp, name)?;
                    if phase(&pod) == "Running" {
                        Ok(pod)
                    } else {
                        bail!("{name}: {}", pod["status"])
                    }
                },
            )
        };
        let steady = running("steady")?;
        let brief = running("brief")?;
        let labels = |pod: &Value| -> anyhow::Result<Vec<String>> {
            env.node
                .containerd
                .containers_with_labels(&[("io.skiff.pod.uid", pod_uid(pod))])
        };
        let brief_id = labels(&brief)?.pop().context("brief has no container")?;

        // Freeze the agent: no heartbeats, no watch, no status reports.
        let agent = env.node.agent.pid().context("agent pid")?;
        signal(agent, nix::sys::signal::Signal::SIGSTOP)?;
        let frozen = (|| -> anyhow::Result<()> {
            // While it is frozen, brief's container exits and a new pod is bound to it.
            wait_for(
                "brief's task to exit",
                Duration::from_secs(30),
                Duration::from_millis(200),
                || match env.node.containerd.task(&brief_id)? {
                    Some(task) if task.status == "RUNNING" => bail!("still running"),
                    _ => Ok(()),
                },
            )?;
            cp.apply_yaml(
                "late.yaml",
                &shell_pod("late", "busybox", "sleep 100000", ""),
            )?;
            let stale = pod_json(cp, "brief")?;
            ensure!(
                phase(&stale) == "Running",
                "the frozen agent reported something: {}",
                stale["status"]
            );
            Ok(())
        })();
        signal(agent, nix::sys::signal::Signal::SIGCONT)?;
        frozen?;

        let brief = wait_for(
            "brief Failed with exit code 3",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || {
                let pod = pod_json(cp, "brief")?;
                let code = container_status(&pod, "main")
                    .and_then(|c| c["state"]["terminated"]["exitCode"].as_i64());
                if phase(&pod) == "Failed" && code == Some(3) {
                    Ok(pod)
                } else {
                    bail!("brief: {}", pod["status"])
                }
            },
        )?;
        let late = running("late")?;
        for pod in [&steady, &brief, &late] {
            let ids = labels(pod)?;
            ensure!(
                ids.len() == 1,
                "pod {} has {} containers: {ids:?}",
                pod["metadata"]["name"],
                ids.len()
            );
        }
        let steady_now = pod_json(cp, "steady")?;
        ensure!(
            phase(&steady_now) == "Running" && restart_count(&steady_now, "main") == Some(0),
            "steady was disturbed: {}",
            steady_now["status"]
        );
        Ok(())
    });
}

#[test]
fn the_users_node_selector_pod_waits_for_a_labelled_node() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        let manifest = ClusterEnv::user_manifest("node-selector.yaml");
        cp.skiff(&["apply", "-f", manifest.to_str().unwrap_or_default()])?;
        let reason = wait_for(
            "a FailedScheduling event",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || {
                let described = cp.skiff(&["describe", "pod", "node-selector"])?;
                if described.contains("FailedScheduling") {
                    Ok(described)
                } else {
                    bail!("describe: {described}")
                }
            },
        )?;
        ensure!(
            reason.contains("didn't match Pod's node affinity/selector"),
            "describe lacks the reason: {reason}"
        );
        let pod = pod_json(cp, "node-selector")?;
        ensure!(
            phase(&pod) == "Pending" && pod["spec"]["nodeName"].is_null(),
            "the pod did not wait: {}",
            pod
        );

        let nodes: Value = serde_json::from_str(&cp.skiff(&["get", "nodes", "-o", "json"])?)?;
        let node = nodes["items"][0]["metadata"]["name"]
            .as_str()
            .context("no node")?
            .to_string();
        let labelled = cp.skiff(&["label", "node", &node, "disktype=ssd"])?;
        ensure!(labelled.contains("labeled"), "label said: {labelled}");
        let pod = wait_for(
            "node-selector Running",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || {
                let pod = pod_json(cp, "node-selector")?;
                if phase(&pod) == "Running" {
                    Ok(pod)
                } else {
                    bail!("status: {}", pod["status"])
                }
            },
        )?;
        ensure!(
            pod["spec"]["nodeName"] == node.as_str(),
            "bound to {} instead of {node}",
            pod["spec"]["nodeName"]
        );
        Ok(())
    });
}

#[test]
fn anonymous_calls_and_a_wrong_join_token_are_refused() {
    if !skiff_e2e::require_root_and_tools() {
        return;
    }
    let cp = TestControlPlane::start().expect("control plane");
    let data = cp.data();

    // A gRPC call over TLS with no client certificate at all: one empty-message frame.
    let frame = cp.scratch().join("frame");
    std::fs::write(&frame, [0u8; 5]).unwrap();
    let curl = Command::new("curl")
        .args(["-sS", "--http2", "-o", "/dev/null", "-D", "-", "-X", "POST"])
        .arg("--cacert")
        .arg(data.join("pki/ca.crt"))
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg("--data-binary")
        .arg(format!("@{}", frame.display()))
        .arg(format!("{}/skiff.v1.Node/WatchNodes", cp.url))
        .output()
        .expect("curl");
    let answer = text(&curl.stdout);
    assert!(
        answer.contains("grpc-status: 16")
            && answer.contains("client%20certificate%20is%20required"),
        "an anonymous WatchNodes was not refused as Unauthenticated: {answer} {}",
        text(&curl.stderr)
    );

    // The CLI with an admin.conf whose credentials were removed.
    let conf = std::fs::read_to_string(data.join("admin.conf")).unwrap();
    let mut stripped: serde_yaml::Value = serde_yaml::from_str(&conf).unwrap();
    stripped["users"][0]["user"] = serde_yaml::Mapping::new().into();
    let bare = cp.scratch().join("no-key.conf");
    std::fs::write(&bare, serde_yaml::to_string(&stripped).unwrap()).unwrap();
    let out = Command::new(find_binary("skiff").unwrap())
        .env("SKIFF_CONFIG", &bare)
        .args(["get", "pods"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "get pods without a key worked: {}",
        text(&out.stdout)
    );
    assert!(
        stderr.contains("error: You must be logged in to the server (Unauthorized)"),
        "stderr: {stderr}"
    );

    // A node with a token whose secret is wrong is refused, and never appears.
    let token = cp.token().unwrap();
    let (pinned, _) = token.split_once("::").expect("token format");
    let wrong = format!("{pinned}::node:not-the-secret");
    let root = cp.scratch().join("intruder");
    let agent = Command::new(find_binary("skiff-agent").unwrap())
        .args([
            "--server",
            &cp.url,
            "--token",
            &wrong,
            "--node-name",
            "intruder",
        ])
        .args([
            "--node-ip",
            "127.0.0.1",
            "--containerd",
            "/nonexistent.sock",
        ])
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    let stderr = text(&agent.stderr);
    assert!(!agent.status.success(), "the intruder joined: {stderr}");
    assert!(
        stderr.contains("token"),
        "the refusal does not name the token: {stderr}"
    );
    let nodes = cp.skiff(&["get", "nodes"]).unwrap();
    assert!(!nodes.contains("intruder"), "nodes: {nodes}");
}
