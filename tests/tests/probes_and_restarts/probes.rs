//! Probes: each type passing and failing, readiness flipping without a restart, a
//! startup probe holding liveness back, and readiness kept across an agent restart.

use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::Value;
use skiff_e2e::pods::{container_id, restart_count};
use skiff_e2e::probing::{
    case, container, grpc_health_server, is_ready, is_running, is_started, pod, pod_ready, probe,
    probe_scenario, rows, statuses, went_through, Expect, Handler,
};
use skiff_e2e::StandaloneEnv;

use super::{BUSYBOX, FAST, HEALTHY, LIVE, SLEEP, START};

/// (1a) exec: `cat /tmp/healthy` passes where the file exists, fails where it does not.
#[test]
fn exec_probe_passes_and_fails() {
    StandaloneEnv::run(|env| {
        let check = Handler::Exec("cat /tmp/healthy");
        let ready = probe("readinessProbe", check, FAST);
        let live = probe("livenessProbe", check, LIVE);
        let cases = [
            case("ready-pass", BUSYBOX, HEALTHY, &ready, Expect::Ready),
            case("ready-fail", BUSYBOX, SLEEP, &ready, Expect::NotReady),
            case("live-pass", BUSYBOX, HEALTHY, &live, Expect::Lives),
            case("live-fail", BUSYBOX, SLEEP, &live, Expect::Restarted),
        ];
        probe_scenario(&env.agent, "probe-exec", START, &cases).map(drop)
    });
}

/// (1b) httpGet to the pod IP: httpd's /index.html passes, /missing (404) fails. All
/// containers share the pod's network namespace, so they all probe the one httpd.
#[test]
fn http_get_probe_passes_and_fails() {
    StandaloneEnv::run(|env| {
        let (ok, missing) = (
            Handler::Http("/index.html", 80),
            Handler::Http("/missing", 80),
        );
        let cases = [
            case(
                "web",
                "httpd:latest",
                None,
                &probe("readinessProbe", ok, FAST),
                Expect::Ready,
            ),
            case(
                "ready-fail",
                BUSYBOX,
                SLEEP,
                &probe("readinessProbe", missing, FAST),
                Expect::NotReady,
            ),
            case(
                "live-pass",
                BUSYBOX,
                SLEEP,
                &probe("livenessProbe", ok, LIVE),
                Expect::Lives,
            ),
            case(
                "live-fail",
                BUSYBOX,
                SLEEP,
                &probe("livenessProbe", missing, LIVE),
                Expect::Restarted,
            ),
        ];
        probe_scenario(&env.agent, "probe-http", START, &cases).map(drop)
    });
}

/// (1c) tcpSocket: httpd's port 80 is open, port 81 is closed.
#[test]
fn tcp_socket_probe_passes_and_fails() {
    StandaloneEnv::run(|env| {
        let (open, closed) = (Handler::Tcp(80), Handler::Tcp(81));
        let cases = [
            case(
                "web",
                "httpd:latest",
                None,
                &probe("readinessProbe", open, FAST),
                Expect::Ready,
            ),
            case(
                "ready-fail",
                BUSYBOX,
                SLEEP,
                &probe("readinessProbe", closed, FAST),
                Expect::NotReady,
            ),
            case(
                "live-pass",
                BUSYBOX,
                SLEEP,
                &probe("livenessProbe", open, LIVE),
                Expect::Lives,
            ),
            case(
                "live-fail",
                BUSYBOX,
                SLEEP,
                &probe("livenessProbe", closed, LIVE),
                Expect::Restarted,
            ),
        ];
        probe_scenario(&env.agent, "probe-tcp", START, &cases).map(drop)
    });
}

/// (1d) grpc, against a canned grpc.health.v1 answer replayed by busybox `nc` (there is
/// no gRPC server image): SERVING passes, NOT_SERVING fails, a closed port fails. Real
/// servers are covered by the agent's unit tests against tonic-health
/// (agent/src/probes/check/tests.rs).
#[test]
fn grpc_probe_passes_and_fails() {
    StandaloneEnv::run(|env| {
        let settings = [FAST, &[("timeoutSeconds", 3)]].concat();
        let ready = |port| probe("readinessProbe", Handler::Grpc(port), &settings);
        let (serving, sick) = (
            grpc_health_server(50051, true),
            grpc_health_server(50052, false),
        );
        let cases = [
            case(
                "serving",
                BUSYBOX,
                Some(&serving),
                &ready(50051),
                Expect::Ready,
            ),
            case(
                "not-serving",
                BUSYBOX,
                Some(&sick),
                &ready(50052),
                Expect::NotReady,
            ),
            case(
                "ready-closed",
                BUSYBOX,
                SLEEP,
                &ready(50053),
                Expect::NotReady,
            ),
            case(
                "live-pass",
                BUSYBOX,
                SLEEP,
                &probe("livenessProbe", Handler::Grpc(50051), LIVE),
                Expect::Lives,
            ),
            case(
                "live-closed",
                BUSYBOX,
                SLEEP,
                &probe("livenessProbe", Handler::Grpc(50053), LIVE),
                Expect::Restarted,
            ),
        ];
        probe_scenario(&env.agent, "probe-grpc", START, &cases).map(drop)
    });
}

/// (3) Readiness follows the container's own toggling, 1/1 → 0/1 → 1/1, with no restart.
#[test]
fn readiness_flips_without_restart() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let script = "while true; do touch /tmp/ready; sleep 6; rm /tmp/ready; sleep 6; done";
        let ready = probe("readinessProbe", Handler::Exec("cat /tmp/ready"), FAST);
        a.write_manifest(
            "flipper",
            &pod(
                "flipper",
                "",
                &[],
                &[container("main", BUSYBOX, Some(script), &ready)],
            ),
        )?;
        let seen = a.follow_rows("flipper", START + Duration::from_secs(40), |seen| {
            went_through(
                seen.iter().map(|s| s.what.ready.as_str()),
                &["1/1", "0/1", "1/1"],
            )
        })?;
        println!("flipper: {}", rows(&seen));
        ensure!(
            seen.iter().all(|s| s.what.restarts == 0),
            "restarted: {}",
            rows(&seen)
        );
        ensure!(
            restart_count(&a.pod("flipper")?, "main") == Some(0),
            "restartCount changed"
        );
        Ok(())
    });
}

/// (4) A startup probe holds liveness back until it passes (~5 s in): the guarded
/// container is never restarted, while the same container without it is.
#[test]
fn startup_probe_delays_liveness() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let script = Some("sleep 5; touch /tmp/started; sleep 1000");
        let check = Handler::Exec("cat /tmp/started");
        let startup = probe(
            "startupProbe",
            check,
            &[("periodSeconds", 1), ("failureThreshold", 30)],
        );
        let live = probe("livenessProbe", check, FAST);
        let guarded = container("guarded", BUSYBOX, script, &format!("{startup}{live}"));
        let unguarded = container("unguarded", BUSYBOX, script, &live);
        a.write_manifest("startup", &pod("startup", "", &[], &[guarded, unguarded]))?;
        let pod = a.wait_pod("startup", "guarded running", START, |p| {
            is_running(p, "guarded")
        })?;
        let since = Instant::now();
        ensure!(
            !is_started(&pod, "guarded"),
            "started before its startup probe passed"
        );
        a.wait_pod("startup", "guarded started", Duration::from_secs(30), |p| {
            is_started(p, "guarded") && is_ready(p, "guarded")
        })?;
        println!(
            "guarded started {:.1?} after it was seen running",
            since.elapsed()
        );
        let pod = a.wait_pod(
            "startup",
            "the unguarded control to restart",
            Duration::from_secs(30),
            |p| restart_count(p, "unguarded") >= Some(1),
        )?;
        std::thread::sleep(Duration::from_secs(10).saturating_sub(since.elapsed()));
        let later = a.pod("startup")?;
        ensure!(
            restart_count(&later, "guarded") == Some(0),
            "guarded restarted: {}",
            statuses(&later)
        );
        ensure!(
            container_id(&later, "guarded") == container_id(&pod, "guarded"),
            "guarded replaced"
        );
        Ok(())
    });
}

/// (11) `kill -9` of the agent and a restart keep READY as it was: from the moment the new
/// agent answers, `get pods` never shows the pod not ready and restartCount is unchanged.
/// The exec readiness probe takes 2 s, so a prober that forgot its state would leave the
/// container not ready for that long.
#[test]
fn agent_restart_keeps_readiness() {
    StandaloneEnv::run(|env| {
        let web = probe("readinessProbe", Handler::Http("/index.html", 80), FAST);
        let slow_check = Handler::Exec("sleep 2; cat /tmp/ready");
        let slow = probe(
            "readinessProbe",
            slow_check,
            &[("periodSeconds", 3), ("timeoutSeconds", 5)],
        );
        let containers = [
            container("web", "httpd:latest", None, &web),
            container("slow", BUSYBOX, Some("touch /tmp/ready; sleep 1000"), &slow),
        ];
        env.agent
            .write_manifest("steady", &pod("steady", "", &[], &containers))?;
        let before = env
            .agent
            .wait_pod("steady", "pod Ready", START, pod_ready)?;
        ensure!(
            env.agent.pod_row("steady")?.ready == "2/2",
            "READY before the restart"
        );
        let restarts = |p: &Value| ["web", "slow"].map(|c| restart_count(p, c));

        env.agent.kill9();
        std::thread::sleep(Duration::from_secs(1));
        env.agent.restart()?;
        let (since, mut absent, mut ready, mut not_ready) = (Instant::now(), 0, 0, Vec::new());
        while since.elapsed() < Duration::from_secs(10) {
            match env.agent.pod("steady") {
                Err(_) => absent += 1,
                Ok(p) if pod_ready(&p) && restarts(&p) == restarts(&before) => ready += 1,
                Ok(p) => not_ready.push(format!("t={:.2?} {}", since.elapsed(), statuses(&p))),
            }
        }
        println!("after the restart: {ready} polls ready, {absent} before the pod was listed, {} not ready", not_ready.len());
        ensure!(
            not_ready.is_empty(),
            "shown not ready (or restarted) after the agent restart: {not_ready:?}"
        );
        ensure!(ready > 0, "the pod never came back");
        ensure!(
            env.agent.pod_row("steady")?.ready == "2/2",
            "READY after the restart"
        );
        Ok(())
    });
}
