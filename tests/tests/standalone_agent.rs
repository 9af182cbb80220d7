//! End-to-end scenarios for a standalone `skiff-agent` on static manifests, against a real
//! containerd, a real registry and real namespaces. Run as root, after building the binaries:
//!
//!     cargo build --workspace && cargo test -p skiff-e2e -- --test-threads=1
//!
//! Scenarios share host-wide names (the `skiff0` bridge, the `skiff` nftables table), so
//! they run one at a time: `StandaloneEnv` holds a process-wide lock, and `--test-threads=1`
//! keeps the output readable.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use skiff_e2e::pods::{
    self, container_id, phase, pod_name, pod_uid, restart_count, waiting_reason,
};
use skiff_e2e::process::mounts_under;
use skiff_e2e::{wait_for, ImageVariant, StandaloneEnv, TestImage};

/// Generous: the first start of a pod includes a pull from the local registry.
const START: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);

/// (a) A container's output is readable with `skiff logs` and lies where the contract says.
#[test]
fn pod_logs_are_readable() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        a.write_manifest(
            "logs",
            &pods::shell_pod("logs-pod", "busybox:latest", "echo hello; sleep 1000", ""),
        )?;
        let pod = a.wait_running("logs-pod", START)?;
        wait_for("hello in skiff logs", Duration::from_secs(20), POLL, || {
            let out = a.logs(pod_name(&pod), "main")?;
            ensure!(out.contains("hello"), "logs: {out:?}");
            Ok(())
        })?;
        let file = a.log_file(&pod, "main")?;
        ensure!(
            std::fs::read_to_string(&file)?.contains("hello"),
            "{} lacks hello",
            file.display()
        );
        Ok(())
    });
}

/// (b) Two containers of one pod share the network namespace: a sidecar reaches httpd on
/// 127.0.0.1.
#[test]
fn containers_of_a_pod_talk_over_localhost() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: httpd\n    image: httpd:latest\n  - name: sidecar\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"while true; do wget -qO- http://127.0.0.1/ || echo fetch failed; sleep 1; done\"]\n";
        a.write_manifest("web", manifest)?;
        let pod = a.wait_running("web", START)?;
        wait_for(
            "the page in the sidecar's log",
            Duration::from_secs(30),
            POLL,
            || {
                let out = a.logs(pod_name(&pod), "sidecar")?;
                ensure!(out.contains("hello from skiff"), "sidecar log: {out:?}");
                Ok(())
            },
        )?;
        Ok(())
    });
}

/// (c) The user's nginx-pod.yaml, verbatim: `nginx:latest` is pulled through the
/// registries.yaml mirror (docker.io → the local registry).
#[test]
fn image_pulls_through_registry_mirror() {
    StandaloneEnv::run(|env| {
        let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: my-nginx-pod\nspec:\n  containers:\n    - name: my-nginx-container\n      image: nginx:latest\n      ports:\n        - containerPort: 80\n          protocol: TCP\n";
        env.agent.write_manifest("nginx-pod", manifest)?;
        let pod = env.agent.wait_running("my-nginx-pod", START)?;
        env.task_of(&pod, "my-nginx-container")?;
        let table = env.agent.skiff_ok(&["get", "pods"])?;
        ensure!(
            table.starts_with("NAME") && table.contains("Running"),
            "get pods:\n{table}"
        );
        Ok(())
    });
}

/// (d) An image that exists nowhere ends in ImagePullBackOff, and the agent stays up.
#[test]
fn missing_image_reaches_image_pull_backoff() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        a.write_manifest(
            "missing",
            &pods::shell_pod("missing-image", "no-such-image:v0", "true", ""),
        )?;
        let pod = wait_for("ImagePullBackOff", START, POLL, || {
            let pod = a.pod("missing-image")?;
            let reason = waiting_reason(&pod, "main");
            ensure!(
                reason == Some("ImagePullBackOff"),
                "phase {:?}, waiting reason {reason:?}",
                phase(&pod)
            );
            Ok(pod)
        })?;
        ensure!(phase(&pod) == "Pending", "phase {}", phase(&pod));
        let table = a.skiff_ok(&["get", "pods"])?;
        ensure!(table.contains("ImagePullBackOff"), "get pods:\n{table}");
        ensure!(
            env.agent.is_running(),
            "the agent died over a missing image"
        );
        Ok(())
    });
}

/// (e) A misspelled field is rejected by name (strict decoding), without disturbing a pod
/// that is already running.
#[test]
fn misspelled_field_is_rejected_by_name() {
    StandaloneEnv::run(|env| {
        env.agent.write_manifest(
            "good",
            &pods::shell_pod("good", "busybox:latest", "sleep 1000", ""),
        )?;
        let good = env.agent.wait_running("good", START)?;
        let (_, pid) = env.task_of(&good, "main")?;
        let bad = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: main\n    image: busybox:latest\n    imagePullPolcy: Always\n    command: [\"sleep\", \"1000\"]\n";
        env.agent.write_manifest("bad", bad)?;
        wait_for(
            "the agent to name the field",
            Duration::from_secs(30),
            POLL,
            || {
                let log = env.agent.log_text();
                ensure!(
                    log.contains("spec.containers[0].imagePullPolcy"),
                    "not in the agent log yet"
                );
                Ok(())
            },
        )?;
        let listed = env.agent.skiff(&["get", "pods"])?;
        let warning = String::from_utf8_lossy(&listed.stderr);
        ensure!(
            warning.contains("Warning:") && warning.contains("spec.containers[0].imagePullPolcy"),
            "get pods does not warn about the rejected file: {warning:?}"
        );
        std::thread::sleep(Duration::from_secs(2));
        ensure!(env.agent.is_running(), "the agent died over a bad manifest");
        let pods = env.agent.pods()?;
        ensure!(
            !pods
                .iter()
                .any(|p| pod_name(p).starts_with("bad") && phase(p) == "Running"),
            "bad pod runs"
        );
        let (_, pid_after) = env.task_of(&env.agent.pod("good")?, "main")?;
        ensure!(
            pid == pid_after,
            "good pod's container changed: pid {pid} → {pid_after}"
        );
        Ok(())
    });
}

/// (f) Removing a manifest removes the task, the container, its snapshot and the sandbox
/// (namespace files and their bind mounts).
#[test]
fn removing_manifest_cleans_up_everything() {
    StandaloneEnv::run(|env| {
        let script = "trap 'exit 0' TERM; while true; do sleep 1; done";
        env.agent.write_manifest(
            "doomed",
            &pods::shell_pod("doomed", "busybox:latest", script, ""),
        )?;
        let pod = env.agent.wait_running("doomed", START)?;
        let (id, _) = env.task_of(&pod, "main")?;
        let snapshot = env.containerd.container_info(&id)?["SnapshotKey"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure!(
            env.containerd.snapshots()?.contains(&snapshot),
            "snapshot {snapshot:?} not listed"
        );
        let sandbox = env.agent.sandbox_dir(&pod);
        for ns in ["net", "uts", "ipc"] {
            ensure!(
                sandbox.join(ns).exists(),
                "{} missing",
                sandbox.join(ns).display()
            );
        }
        ensure!(
            !mounts_under(&sandbox).is_empty(),
            "no namespace bind mounts under {}",
            sandbox.display()
        );

        env.agent.remove_manifest("doomed")?;
        wait_for(
            "the pod to be gone everywhere",
            Duration::from_secs(60),
            POLL,
            || {
                let c = &env.containerd;
                ensure!(c.task(&id)?.is_none(), "task {id} still there");
                ensure!(
                    c.containers_with_label("io.skiff.pod.uid", pod_uid(&pod))?
                        .is_empty(),
                    "container left"
                );
                ensure!(
                    !c.snapshots()?.contains(&snapshot),
                    "snapshot {snapshot} left"
                );
                ensure!(
                    mounts_under(&sandbox).is_empty(),
                    "mounts left: {:?}",
                    mounts_under(&sandbox)
                );
                let files: Vec<_> = ["net", "uts", "ipc"]
                    .iter()
                    .filter(|n| sandbox.join(n).exists())
                    .collect();
                ensure!(files.is_empty(), "namespace files left: {files:?}");
                ensure!(env.agent.pod("doomed").is_err(), "still listed by get pods");
                Ok(())
            },
        )?;
        Ok(())
    });
}

/// (g) `kill -9` of the agent leaves containers alone; the restarted agent adopts them
/// (same pid, restartCount 0) and reopens its log FIFOs: what the container wrote while
/// no agent read waited in the pipe and reaches the log, no line lost.
#[test]
fn agent_kill9_and_restart_adopts_running_pod() {
    StandaloneEnv::run(|env| {
        let script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done";
        env.agent.write_manifest(
            "counter",
            &pods::shell_pod("counter", "busybox:latest", script, ""),
        )?;
        let pod = env.agent.wait_running("counter", START)?;
        let (id, pid) = env.task_of(&pod, "main")?;
        let log = env.agent.log_file(&pod, "main")?;
        let size = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);

        env.agent.kill9();
        std::thread::sleep(Duration::from_secs(3));
        env.agent.restart()?;

        let pod = env.agent.wait_running("counter", Duration::from_secs(30))?;
        ensure!(
            restart_count(&pod, "main") == Some(0),
            "restartCount {:?}",
            restart_count(&pod, "main")
        );
        ensure!(
            container_id(&pod, "main").as_deref() == Some(id.as_str()),
            "containerID changed"
        );
        let (id_after, pid_after) = env.task_of(&pod, "main")?;
        ensure!(
            (id_after.as_str(), pid_after) == (id.as_str(), pid),
            "container replaced: {id}/{pid} → {id_after}/{pid_after}"
        );
        let after_restart = size();
        wait_for(
            "the log to keep growing",
            Duration::from_secs(10),
            POLL,
            || {
                ensure!(size() > after_restart, "size stuck at {after_restart}");
                Ok(())
            },
        )?;
        let text = pods::log_text(&std::fs::read_to_string(&log)?);
        let ticks: Vec<u32> = text
            .lines()
            .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
            .collect();
        ensure!(
            ticks.len() >= 5 && ticks.iter().enumerate().all(|(i, t)| *t as usize == i),
            "ticks lost or out of order across the restart: {text:?}"
        );
        Ok(())
    });
}

/// (h) A container that ignores SIGTERM is killed once terminationGracePeriodSeconds (3)
/// has passed. Timing is measured and printed; the bounds are deliberately loose.
#[test]
fn grace_period_then_sigkill_on_manifest_removal() {
    StandaloneEnv::run(|env| {
        let script = "trap '' TERM; while true; do sleep 1; done";
        let manifest = pods::shell_pod(
            "stubborn",
            "busybox:latest",
            script,
            "  terminationGracePeriodSeconds: 3\n",
        );
        env.agent.write_manifest("stubborn", &manifest)?;
        let pod = env.agent.wait_running("stubborn", START)?;
        let (id, _) = env.task_of(&pod, "main")?;

        let removed = Instant::now();
        env.agent.remove_manifest("stubborn")?;
        wait_for(
            "the task to stop",
            Duration::from_secs(30),
            Duration::from_millis(50),
            || match env.containerd.task(&id)? {
                Some(t) if t.status == "RUNNING" => bail!("task {id} still running"),
                _ => Ok(()),
            },
        )?;
        let took = removed.elapsed();
        println!("ignoring SIGTERM, grace 3 s: container stopped {took:.2?} after the manifest was removed");
        ensure!(
            took >= Duration::from_millis(2900),
            "killed after {took:?}, before its grace period"
        );
        ensure!(took <= Duration::from_secs(20), "took {took:?}");
        Ok(())
    });
}

/// (i) A docker-save archive in `--images` is imported and usable with imagePullPolicy
/// Never (the registry does not have this name, so it cannot come from there).
#[test]
fn archive_in_images_dir_is_used_with_pull_never() {
    let prepare = |agent: &skiff_e2e::TestAgent| {
        let image = TestImage::build(ImageVariant::Busybox)?;
        image.write_docker_archive(
            &agent.images_dir().join("local-busybox.tar"),
            "skiff-local/busybox:v1",
        )
    };
    StandaloneEnv::run_with(prepare, |env| {
        let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: from-archive\nspec:\n  containers:\n  - name: main\n    image: skiff-local/busybox:v1\n    imagePullPolicy: Never\n    command: [\"sh\", \"-c\", \"echo from archive; sleep 1000\"]\n";
        env.agent.write_manifest("from-archive", manifest)?;
        let pod = env.agent.wait_running("from-archive", START)?;
        wait_for(
            "archive pod's output",
            Duration::from_secs(20),
            POLL,
            || {
                let out = env.agent.logs(pod_name(&pod), "main")?;
                ensure!(out.contains("from archive"), "logs: {out:?}");
                Ok(())
            },
        )
    });
}

/// (j) containerd goes away and comes back: the agent survives, the pod is Running again
/// (same container), and the agent can start new pods afterwards.
#[test]
fn agent_survives_containerd_restart() {
    StandaloneEnv::run(|env| {
        env.agent.write_manifest(
            "steady",
            &pods::shell_pod("steady", "busybox:latest", "sleep 1000", ""),
        )?;
        let pod = env.agent.wait_running("steady", START)?;
        let (_, pid) = env.task_of(&pod, "main")?;

        env.containerd.stop();
        std::thread::sleep(Duration::from_secs(3));
        ensure!(
            env.agent.is_running(),
            "the agent exited while containerd was down"
        );
        env.containerd.restart()?;

        let pod = env.agent.wait_running("steady", Duration::from_secs(60))?;
        let (_, pid_after) = env.task_of(&pod, "main")?;
        ensure!(
            pid == pid_after,
            "container replaced: pid {pid} → {pid_after}"
        );
        env.agent.write_manifest(
            "after",
            &pods::shell_pod("after", "busybox:latest", "sleep 1000", ""),
        )?;
        env.agent.wait_running("after", START)?;
        ensure!(env.agent.is_running(), "the agent exited");
        Ok(())
    });
}
