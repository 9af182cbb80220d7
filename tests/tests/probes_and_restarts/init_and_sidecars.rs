//! Init containers in order before the app, and native sidecars beside it.

use std::time::Duration;

use anyhow::{ensure, Context};
use skiff_e2e::pods::{container_status, phase, restart_count};
use skiff_e2e::probing::{
    container, init_status, is_running, pod, printed_start, rows, terminated, went_through,
    PRINT_START,
};
use skiff_e2e::{wait_for, StandaloneEnv};

use super::{BUSYBOX, POLL, SLEEP, START};

/// (8) Init containers run one after the other, the app after both: STATUS goes
/// Init:0/2 → Init:1/2 → Running, and the containers' own start times agree (there are
/// no volumes yet to share a file through).
#[test]
fn init_containers_run_in_order_before_the_app() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let step = format!("{PRINT_START}; sleep 3");
        let init = [
            container("first", BUSYBOX, Some(&step), ""),
            container("second", BUSYBOX, Some(&step), ""),
        ];
        let app = format!("{PRINT_START}; sleep 1000");
        a.write_manifest(
            "ordered",
            &pod(
                "ordered",
                "",
                &init,
                &[container("main", BUSYBOX, Some(&app), "")],
            ),
        )?;
        let seen = a.follow_rows("ordered", START, |seen| {
            seen.last().is_some_and(|s| s.what.status == "Running")
        })?;
        println!("ordered: {}", rows(&seen));
        let statuses: Vec<&str> = seen.iter().map(|s| s.what.status.as_str()).collect();
        ensure!(
            went_through(
                statuses.iter().copied(),
                &["Init:0/2", "Init:1/2", "Running"]
            ),
            "STATUS went {statuses:?}"
        );
        let first_of = |s: &str| statuses.iter().position(|x| *x == s);
        let last_of = |s: &str| statuses.iter().rposition(|x| *x == s);
        ensure!(
            last_of("Init:0/2") < first_of("Init:1/2"),
            "STATUS went back: {statuses:?}"
        );
        let pod = a.pod("ordered")?;
        let start = |c: &str| -> anyhow::Result<f64> {
            let log = a.logs("ordered", c)?;
            printed_start(&log).with_context(|| format!("{c} printed no start: {log:?}"))
        };
        let (first, second, main) = (start("first")?, start("second")?, start("main")?);
        println!("starts (uptime s): first {first}, second {second}, main {main}");
        ensure!(
            second - first >= 2.9 && main - second >= 2.9,
            "overlap: {first} {second} {main}"
        );
        for c in ["first", "second"] {
            let t = &init_status(&pod, c).context("no init status")?["state"]["terminated"];
            ensure!(t["exitCode"] == 0 && t["reason"] == "Completed", "{c}: {t}");
        }
        Ok(())
    });
}

/// (9) A native sidecar (an init container with restartPolicy Always) starts before the
/// app and keeps running beside it; the pod still completes when the app exits 0.
#[test]
fn pod_with_native_sidecar_completes() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let sidecar = container("sidecar", BUSYBOX, SLEEP, "    restartPolicy: Always\n");
        let main = container("main", BUSYBOX, Some("sleep 3; exit 0"), "");
        let manifest = pod(
            "sidecar",
            "  restartPolicy: OnFailure\n",
            &[sidecar],
            &[main],
        );
        a.write_manifest("sidecar", &manifest)?;
        // Ready, not only running: a container without a readiness probe is ready once
        // it has kept running a moment (the agent's READY_SETTLE).
        let both = a.wait_pod("sidecar", "app and sidecar running and ready", START, |p| {
            is_running(p, "main")
                && container_status(p, "main").is_some_and(|s| s["ready"] == true)
                && init_status(p, "sidecar").is_some_and(|s| s["ready"] == true)
        })?;
        let row = a.pod_row("sidecar")?;
        ensure!(
            row.ready == "2/2" && row.status == "Running",
            "while both run: {row:?}"
        );
        let pod = a.wait_pod("sidecar", "phase Succeeded", Duration::from_secs(30), |p| {
            phase(p) == "Succeeded"
        })?;
        let t = terminated(&pod, "main").context("app not terminated")?;
        ensure!(
            t["exitCode"] == 0 && restart_count(&pod, "main") == Some(0),
            "app: {t}"
        );
        let sidecar_started = &init_status(&both, "sidecar").context("no sidecar status")?["state"]
            ["running"]["startedAt"];
        ensure!(
            sidecar_started.as_str() <= t["startedAt"].as_str(),
            "app started before the sidecar"
        );
        let row = a.pod_row("sidecar")?;
        ensure!(
            row.status == "Completed",
            "STATUS after completion: {row:?}"
        );
        Ok(())
    });
}

/// (9b) Once the app containers of a completed pod have exited, its sidecars are stopped
/// too, as the kubelet does (KEP-753): nothing of a Succeeded pod keeps running.
#[test]
fn sidecar_is_stopped_when_the_pod_completes() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let sidecar = container("sidecar", BUSYBOX, SLEEP, "    restartPolicy: Always\n");
        let main = container("main", BUSYBOX, Some("sleep 2; exit 0"), "");
        let manifest = pod(
            "sidecar-stop",
            "  restartPolicy: Never\n",
            &[sidecar],
            &[main],
        );
        a.write_manifest("sidecar-stop", &manifest)?;
        let pod = a.wait_pod("sidecar-stop", "phase Succeeded", START, |p| {
            phase(p) == "Succeeded"
        })?;
        // The 1 s grace period, then SIGKILL: well within 15 s.
        wait_for("the sidecar to stop", Duration::from_secs(15), POLL, || {
            ensure!(
                env.task_of(&pod, "sidecar").is_err(),
                "sidecar task still RUNNING"
            );
            let pod = a.pod("sidecar-stop")?;
            let state = &init_status(&pod, "sidecar").context("no sidecar status")?["state"];
            ensure!(state.get("terminated").is_some(), "sidecar state {state}");
            Ok(())
        })?;
        ensure!(
            phase(&a.pod("sidecar-stop")?) == "Succeeded",
            "phase changed"
        );
        Ok(())
    });
}
