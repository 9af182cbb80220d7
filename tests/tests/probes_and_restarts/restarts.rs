//! Restarts: liveness kills, the crash-loop backoff, restart policies and exit codes,
//! OOM kills, and the previous attempt's logs.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use skiff_e2e::pods::{container_id, log_text, phase, restart_count, waiting_reason};
use skiff_e2e::probing::{
    container, is_running, last_terminated, pod, printed_start, probe, statuses, terminated,
    Handler, PRINT_START,
};
use skiff_e2e::{wait_for, StandaloneEnv};

use super::{BUSYBOX, LIVE, POLL, START};

/// (2) A container that stays up but stops being healthy is killed and restarted by its
/// liveness probe; the killed attempt shows in lastState and in RESTARTS.
#[test]
fn liveness_restarts_a_hung_container() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let script = "touch /tmp/healthy; sleep 4; rm /tmp/healthy; echo hung; sleep 1000";
        let live = probe("livenessProbe", Handler::Exec("cat /tmp/healthy"), LIVE);
        a.write_manifest(
            "hung",
            &pod(
                "hung",
                "",
                &[],
                &[container("main", BUSYBOX, Some(script), &live)],
            ),
        )?;
        let first = a.wait_running("hung", START)?;
        let since = Instant::now();
        let pod = a.wait_pod("hung", "a liveness restart", Duration::from_secs(60), |p| {
            restart_count(p, "main") >= Some(1)
        })?;
        println!(
            "hung container restarted {:.1?} after it was seen running",
            since.elapsed()
        );
        ensure!(
            since.elapsed() >= Duration::from_secs(3),
            "restarted while still healthy"
        );
        let last = last_terminated(&pod, "main").context("no lastState.terminated")?;
        // The shell (PID 1) ignores SIGTERM: SIGKILL after the 1 s grace period.
        ensure!(last["exitCode"] == 137, "lastState.terminated {last}");
        let old = format!(
            "containerd://{}",
            container_id(&first, "main").unwrap_or_default()
        );
        ensure!(
            last["containerID"] == old.as_str(),
            "lastState is not the hung attempt: {last}"
        );
        let row = a.pod_row("hung")?;
        ensure!(row.restarts >= 1, "RESTARTS column: {row:?}");
        Ok(())
    });
}

/// (5) A container that exits 1 at once crash-loops with delays 0, base, 2·base, … up to
/// max (here 1 s and 8 s). The starts are printed by the container itself (host uptime),
/// one log file per attempt; the gaps are printed and checked loosely.
#[test]
fn crash_loop_backoff_doubles_to_max() {
    StandaloneEnv::run_with_args(&["--backoff-base", "1s", "--backoff-max", "8s"], |env| {
        let a = &env.agent;
        let script = format!("{PRINT_START}; exit 1");
        a.write_manifest(
            "crasher",
            &pod(
                "crasher",
                "",
                &[],
                &[container("main", BUSYBOX, Some(&script), "")],
            ),
        )?;
        let (mut json_reason, mut column) = (false, false);
        let starts = wait_for(
            "7 attempts",
            START + Duration::from_secs(60),
            Duration::from_millis(100),
            || {
                let pod = a.pod("crasher")?;
                json_reason |= waiting_reason(&pod, "main") == Some("CrashLoopBackOff");
                column |= a
                    .pod_row("crasher")
                    .is_ok_and(|r| r.status == "CrashLoopBackOff");
                let logs = a.attempt_logs(&pod, "main")?;
                let starts: Vec<f64> = logs
                    .iter()
                    .filter_map(|f| printed_start(&log_text(&std::fs::read_to_string(f).ok()?)))
                    .collect();
                ensure!(starts.len() >= 7, "{} attempts so far", starts.len());
                Ok(starts)
            },
        )?;
        let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        println!("crash-loop gaps between starts (base 1 s, max 8 s): {gaps:.2?}");
        ensure!(
            json_reason,
            "state.waiting.reason was never CrashLoopBackOff"
        );
        ensure!(column, "STATUS never read CrashLoopBackOff");
        ensure!(
            gaps.windows(2).all(|g| g[1] >= g[0] - 0.5),
            "gaps shrink: {gaps:.2?}"
        );
        ensure!(
            gaps[2..].iter().all(|g| *g >= 0.95),
            "gap under the base: {gaps:.2?}"
        );
        ensure!(
            gaps.iter().all(|g| *g <= 8.0 + 4.0),
            "gap beyond the max: {gaps:.2?}"
        );
        Ok(())
    });
}

/// (6) restartPolicy OnFailure and exit 0: Completed, phase Succeeded, never restarted.
#[test]
fn on_failure_exit_zero_completes() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let main = container("main", BUSYBOX, Some("echo done; exit 0"), "");
        a.write_manifest(
            "finisher",
            &pod("finisher", "  restartPolicy: OnFailure\n", &[], &[main]),
        )?;
        a.wait_pod("finisher", "phase Succeeded", START, |p| {
            phase(p) == "Succeeded"
        })?;
        std::thread::sleep(Duration::from_secs(5));
        let pod = a.pod("finisher")?;
        let t = terminated(&pod, "main").context("not terminated")?;
        ensure!(
            t["exitCode"] == 0 && t["reason"] == "Completed",
            "terminated {t}"
        );
        ensure!(
            phase(&pod) == "Succeeded" && restart_count(&pod, "main") == Some(0),
            "{}",
            statuses(&pod)
        );
        let row = a.pod_row("finisher")?;
        ensure!(
            row.status == "Completed" && row.restarts == 0 && row.ready == "0/1",
            "row {row:?}"
        );
        Ok(())
    });
}

/// (7) restartPolicy Never and exit 3: Error, phase Failed, exit code 3 kept.
#[test]
fn never_exit_three_fails_with_error() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let main = container("main", BUSYBOX, Some("echo failing; exit 3"), "");
        a.write_manifest(
            "failer",
            &pod("failer", "  restartPolicy: Never\n", &[], &[main]),
        )?;
        let pod = a.wait_pod("failer", "phase Failed", START, |p| phase(p) == "Failed")?;
        let t = terminated(&pod, "main").context("not terminated")?;
        ensure!(
            t["exitCode"] == 3 && t["reason"] == "Error",
            "terminated {t}"
        );
        std::thread::sleep(Duration::from_secs(3));
        let row = a.pod_row("failer")?;
        ensure!(row.status == "Error" && row.restarts == 0, "row {row:?}");
        ensure!(
            restart_count(&a.pod("failer")?, "main") == Some(0),
            "restarted"
        );
        Ok(())
    });
}

/// (10) A container over its 32Mi limit (dd with a 64M buffer, as PID 1) is OOM-killed:
/// reason OOMKilled, exit code 137, STATUS OOMKilled; restartPolicy Never keeps it there.
#[test]
fn oom_killed_container_is_reported() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let limits = "    resources:\n      limits:\n        memory: 32Mi\n";
        let hog = Some("exec dd if=/dev/zero of=/dev/null bs=64M count=1");
        let manifest = pod(
            "hog",
            "  restartPolicy: Never\n",
            &[],
            &[container("main", BUSYBOX, hog, limits)],
        );
        a.write_manifest("hog", &manifest)?;
        let pod = a.wait_pod("hog", "phase Failed", START, |p| phase(p) == "Failed")?;
        let t = terminated(&pod, "main").context("not terminated")?;
        ensure!(
            t["reason"] == "OOMKilled" && t["exitCode"] == 137,
            "terminated {t}"
        );
        let row = a.pod_row("hog")?;
        ensure!(
            row.status == "OOMKilled" && row.restarts == 0,
            "row {row:?}"
        );
        Ok(())
    });
}

/// (12) `skiff logs --previous` prints the attempt before the current one.
#[test]
fn logs_previous_shows_the_earlier_attempt() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let script = "echo \"attempt $RANDOM$RANDOM\"; sleep 5; exit 1";
        a.write_manifest(
            "twice",
            &pod(
                "twice",
                "",
                &[],
                &[container("main", BUSYBOX, Some(script), "")],
            ),
        )?;
        let (previous, current) = wait_for("the second attempt", START, POLL, || {
            let pod = a.pod("twice")?;
            ensure!(
                restart_count(&pod, "main") == Some(1) && is_running(&pod, "main"),
                "{}",
                statuses(&pod)
            );
            let previous = a.skiff_ok(&["logs", "twice", "--previous"])?;
            let current = a.logs("twice", "main")?;
            ensure!(
                restart_count(&a.pod("twice")?, "main") == Some(1),
                "restarted meanwhile"
            );
            let files = a.attempt_logs(&pod, "main")?;
            let [first, second] = &files[..] else {
                anyhow::bail!("attempt logs {files:?}")
            };
            let (first, second) = (
                log_text(&std::fs::read_to_string(first)?),
                log_text(&std::fs::read_to_string(second)?),
            );
            ensure!(
                first.contains("attempt") && second.contains("attempt"),
                "{first:?} {second:?}"
            );
            ensure!(
                previous == first && current == second,
                "previous {previous:?}, current {current:?}; files {first:?} {second:?}"
            );
            Ok((previous, current))
        })?;
        ensure!(previous != current, "both attempts printed {previous:?}");
        println!("previous: {previous:?}, current: {current:?}");
        Ok(())
    });
}
