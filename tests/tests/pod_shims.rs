//! One containerd shim per pod: the containers of a pod run under one
//! `containerd-shim-runc-v2` (the agent groups them by the pod's uid); a crashed and
//! restarted container joins its pod's shim and leaves its sibling running; `kill -9` of
//! the agent leaves pods and shims alone and the restarted agent adopts them; the shim
//! goes with the pod.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use skiff_e2e::pods::{phase, pod_uid, restart_count};
use skiff_e2e::{wait_for, ClusterEnv};

const PAIR: &str = "apiVersion: v1
kind: Pod
metadata:
  name: pair
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:latest
    command: [sh, -c, 'sleep 100000']
  - name: side
    image: busybox:latest
    command: [sh, -c, 'sleep 100000']
";

const SOLO: &str = "apiVersion: v1
kind: Pod
metadata:
  name: solo
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    command: [sh, -c, 'sleep 100000']
";

/// A field of `/proc/<pid>/status`.
fn status_field(pid: u32, field: &str) -> anyhow::Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim_start_matches(':').trim().to_string())
        .with_context(|| format!("no {field} for {pid}"))
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    status_field(pid, "State").is_ok_and(|s| !s.starts_with('Z') && !s.starts_with('X'))
}

/// The shim serving a task: the parent of its process, checked to be a runc shim.
fn shim_of(pid: u32) -> anyhow::Result<u32> {
    let ppid: u32 = status_field(pid, "PPid")?.parse()?;
    let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline"))?;
    ensure!(
        String::from_utf8_lossy(&cmdline).contains("containerd-shim-runc-v2"),
        "the parent {ppid} of {pid} is not a runc shim: {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    Ok(ppid)
}

/// The pid of each running task of the pod, by container id.
fn task_pids(env: &ClusterEnv, pod: &Value) -> anyhow::Result<Vec<(String, u32)>> {
    let ids = env
        .node
        .containerd
        .containers_with_labels(&[("io.skiff.pod.uid", pod_uid(pod))])?;
    let tasks = env.node.containerd.tasks()?;
    Ok(tasks
        .into_iter()
        .filter(|t| ids.contains(&t.id) && t.status == "RUNNING")
        .map(|t| (t.id, t.pid))
        .collect())
}

fn shims(env: &ClusterEnv, pod: &Value) -> anyhow::Result<BTreeSet<u32>> {
    task_pids(env, pod)?
        .into_iter()
        .map(|(_, pid)| shim_of(pid))
        .collect()
}

/// The pid of the task of `container` of the pod.
fn pid_of(env: &ClusterEnv, pod: &Value, container: &str) -> anyhow::Result<u32> {
    let ids = env.node.containerd.containers_with_labels(&[
        ("io.skiff.pod.uid", pod_uid(pod)),
        ("io.skiff.container.name", container),
    ])?;
    task_pids(env, pod)?
        .into_iter()
        .find(|(id, _)| ids.contains(id))
        .map(|(_, pid)| pid)
        .with_context(|| format!("{container} has no running task"))
}

fn kill(pid: u32) -> anyhow::Result<()> {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    Ok(nix::sys::signal::kill(
        pid,
        nix::sys::signal::Signal::SIGKILL,
    )?)
}

/// Waits for `container` of pair to run again (restart count 1, a new process).
fn restarted_once(env: &ClusterEnv, container: &str, old: u32) -> anyhow::Result<Value> {
    wait_for(
        &format!("{container} restarted"),
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let pod = env.cp.get_json("pod", "pair")?;
            match (restart_count(&pod, container), pid_of(env, &pod, container)) {
                (Some(1), Ok(pid)) if pid != old => Ok(pod),
                other => bail!("{container}: {other:?}"),
            }
        },
    )
}

#[test]
fn a_pod_runs_under_one_shim_through_restarts_and_agent_restarts() {
    ClusterEnv::run(|env| {
        env.cp.apply_yaml("pair.yaml", PAIR)?;
        env.cp.apply_yaml("solo.yaml", SOLO)?;
        let pair = env.cp.wait_pod_running("pair")?;
        let solo = env.cp.wait_pod_running("solo")?;
        let both = wait_for(
            "both containers of pair running",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let tasks = task_pids(env, &pair)?;
                ensure!(tasks.len() == 2, "{tasks:?}");
                Ok(tasks)
            },
        )?;
        let pair_shims = shims(env, &pair)?;
        ensure!(
            pair_shims.len() == 1,
            "pair's two containers run under {} shims: {pair_shims:?} ({both:?})",
            pair_shims.len()
        );
        let shim = *pair_shims.first().context("no shim")?;
        let solo_shims = shims(env, &solo)?;
        ensure!(
            solo_shims.len() == 1 && !solo_shims.contains(&shim),
            "solo should have a shim of its own: {solo_shims:?}, pair's {shim}"
        );

        // app crashes: it restarts under the same shim, side keeps running.
        let side = pid_of(env, &pair, "side")?;
        let app = pid_of(env, &pair, "app")?;
        kill(app)?;
        restarted_once(env, "app", app)?;
        let restarted = pid_of(env, &pair, "app")?;
        ensure!(
            shim_of(restarted)? == shim,
            "the restarted app has a shim of its own"
        );
        ensure!(
            alive(side) && pid_of(env, &pair, "side")? == side,
            "side did not survive app's restart"
        );

        // kill -9 of the agent: the pod and its shim run on; the new agent adopts them.
        env.node.agent.kill9();
        ensure!(alive(shim) && alive(side) && alive(restarted));
        env.node.agent.restart()?;
        // Only the new agent can restart side: once it has, it runs the pod.
        kill(side)?;
        let pod = restarted_once(env, "side", side)?;
        ensure!(
            restart_count(&pod, "app") == Some(1) && pid_of(env, &pod, "app")? == restarted,
            "the restarted agent replaced app instead of adopting it: {}",
            pod["status"]
        );
        let tasks = task_pids(env, &pod)?;
        ensure!(tasks.len() == 2, "pair runs {tasks:?}");
        ensure!(
            shims(env, &pod)? == pair_shims,
            "the adopted pod's containers left its shim"
        );

        // The pod goes, and its shim with it; solo's stays.
        env.cp.skiff(&["delete", "pod", "pair"])?;
        wait_for(
            "pair's shim gone",
            Duration::from_secs(60),
            Duration::from_millis(200),
            || {
                ensure!(!alive(shim), "shim {shim} still runs");
                Ok(())
            },
        )?;
        ensure!(
            phase(&env.cp.get_json("pod", "solo")?) == "Running"
                && solo_shims.iter().all(|s| alive(*s)),
            "solo was disturbed"
        );
        Ok(())
    });
}
