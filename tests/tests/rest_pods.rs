//! A pod's streaming subresources over the REST API, driven by clients no one here wrote:
//! the kube crate (`logs`, `log_stream`, `exec` and `attach` over WebSocket) and the real
//! kubectl v1.33 (`logs -f`, `logs --previous` of a crash-looping pod, `exec`, `exec -it`
//! with its exit code, `run -it --rm` attached to the container's terminal).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, LogParams};
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::pods::{container_status, shell_pod};
use skiff_e2e::{kube_client, wait_for, ClusterEnv, TestControlPlane};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TICKER: &str =
    "echo hello-logs; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done";
/// Counts its runs in an emptyDir (which outlives the container), prints the run, fails.
const CRASHER: &str =
    "n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo run-$n; exit 1";

fn crasher_pod() -> String {
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: crasher\nspec:\n  containers:\n  - name: main\n    image: busybox\n    command: [\"sh\", \"-c\", \"CMD\"]\n    volumeMounts:\n    - {name: data, mountPath: /data}\n  volumes:\n  - {name: data, emptyDir: {}}\n"
        .replace("CMD", CRASHER)
}

/// The crasher's restart count once it waits in CrashLoopBackOff with `at_least` runs.
fn crash_looping(cp: &TestControlPlane, at_least: i64) -> anyhow::Result<i64> {
    wait_for(
        "crasher in CrashLoopBackOff",
        Duration::from_secs(90),
        Duration::from_millis(300),
        || {
            let pod = cp.get_json("pod", "crasher")?;
            let status = container_status(&pod, "main").context("no status")?;
            let restarts = status["restartCount"].as_i64().unwrap_or_default();
            let waiting = status["state"]["waiting"]["reason"].as_str() == Some("CrashLoopBackOff");
            if waiting && restarts >= at_least {
                Ok(restarts)
            } else {
                bail!("status: {status}")
            }
        },
    )
}

fn api_error(e: kube::Error) -> anyhow::Result<(u16, String)> {
    match e {
        kube::Error::Api(status) => Ok((status.code, status.message)),
        other => bail!("not an API error: {other:?}"),
    }
}

#[test]
fn the_kube_crate_reads_logs_and_execs_and_attaches() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        cp.apply_yaml("ticker.yaml", &shell_pod("ticker", "busybox", TICKER, ""))?;
        let two = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two\nspec:\n  containers:\n  - {name: a, image: busybox, command: [sleep, '3600']}\n  - {name: b, image: busybox, command: [sleep, '3600']}\n";
        cp.apply_yaml("two.yaml", two)?;
        // Attach needs a container created with stdin, as `kubectl run -i` makes it.
        let shell = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: shell\nspec:\n  containers:\n  - {name: sh, image: busybox, command: [sh], stdin: true, stdinOnce: true}\n";
        cp.apply_yaml("shell.yaml", shell)?;
        cp.apply_yaml(
            "no-image.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: no-image\nspec:\n  containers:\n  - {name: c, image: 127.0.0.1:1/nothing:here}\n",
        )?;
        for name in ["ticker", "two", "shell"] {
            cp.wait_pod_running(name)?;
        }
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(async {
            let client = kube_client::for_cluster(cp).await?;
            let pods: Api<Pod> = Api::default_namespaced(client);

            // logs, tailLines, limitBytes
            let logs = wait_for_async_logs(&pods, "ticker", &LogParams::default()).await?;
            ensure!(logs.starts_with("hello-logs\ntick-1\n"), "logs: {logs:?}");
            let tail = pods
                .logs(
                    "ticker",
                    &LogParams {
                        tail_lines: Some(1),
                        ..LogParams::default()
                    },
                )
                .await?;
            ensure!(
                tail.lines().count() == 1 && tail.starts_with("tick-"),
                "tail: {tail:?}"
            );
            let limited = pods
                .logs(
                    "ticker",
                    &LogParams {
                        limit_bytes: Some(5),
                        ..LogParams::default()
                    },
                )
                .await?;
            ensure!(limited == "hello", "limitBytes 5: {limited:?}");

            // log_stream with follow: lines printed after the request arrive.
            let follow = LogParams {
                follow: true,
                tail_lines: Some(0),
                ..LogParams::default()
            };
            let mut lines = pods.log_stream("ticker", &follow).await?.lines();
            let first = tokio::time::timeout(Duration::from_secs(10), lines.next())
                .await
                .context("no line followed in 10s")?
                .context("stream ended")??;
            ensure!(first.starts_with("tick-"), "followed: {first:?}");
            let later = tokio::time::timeout(Duration::from_secs(10), lines.next())
                .await
                .context("no second line")?
                .context("stream ended")??;
            ensure!(later != first, "the same line twice: {later:?}");
            drop(lines);

            // kube-apiserver's refusals, as Status objects.
            let (code, message) =
                api_error(pods.logs("two", &LogParams::default()).await.unwrap_err())?;
            ensure!(
                code == 400
                    && message
                        == "a container name must be specified for pod two, choose one of: [a b]",
                "{code} {message}"
            );
            let c = LogParams {
                container: Some("c".into()),
                ..LogParams::default()
            };
            let (code, message) = api_error(pods.logs("two", &c).await.unwrap_err())?;
            ensure!(
                code == 400 && message == "container c is not valid for pod two",
                "{code} {message}"
            );
            let previous = LogParams {
                previous: true,
                container: Some("a".into()),
                ..LogParams::default()
            };
            let (code, message) = api_error(pods.logs("two", &previous).await.unwrap_err())?;
            ensure!(
                code == 400
                    && message == r#"previous terminated container "a" in pod "two" not found"#,
                "{code} {message}"
            );
            let (code, message) = api_error(
                pods.logs("no-image", &LogParams::default())
                    .await
                    .unwrap_err(),
            )?;
            ensure!(
                code == 400
                    && message
                        .starts_with(r#"container "c" in pod "no-image" is waiting to start"#),
                "{code} {message}"
            );

            // exec: stdout and stderr apart, the exit code on the error channel.
            let ap = AttachParams::default().stdout(true).stderr(true);
            let mut p = pods
                .exec(
                    "ticker",
                    ["sh", "-c", "echo out; echo err >&2; exit 3"],
                    &ap,
                )
                .await?;
            let (mut out, mut err) = (p.stdout().context("stdout")?, p.stderr().context("stderr")?);
            let status = p.take_status().context("status")?;
            let (mut o, mut e) = (String::new(), String::new());
            out.read_to_string(&mut o).await?;
            err.read_to_string(&mut e).await?;
            let status = status.await.context("no status")?;
            ensure!(
                (o.as_str(), e.as_str()) == ("out\n", "err\n"),
                "stdout {o:?} stderr {e:?}"
            );
            ensure!(
                status.reason.as_deref() == Some("NonZeroExitCode"),
                "{status:?}"
            );
            let cause = &status
                .details
                .as_ref()
                .and_then(|d| d.causes.clone())
                .unwrap_or_default();
            ensure!(
                cause.first().and_then(|c| c.message.as_deref()) == Some("3"),
                "exit cause: {status:?}"
            );
            p.join().await?;
            let p = pods
                .exec("ticker", ["cat", "/etc/hostname"], &AttachParams::default())
                .await?;
            let ok = within("exec cat", exec_output(p)).await?;
            ensure!(
                ok.0 == "ticker\n" && ok.1.status.as_deref() == Some("Success"),
                "{ok:?}"
            );

            // exec with stdin: its end reaches the process.
            let ap = AttachParams::default()
                .stdin(true)
                .stdout(true)
                .stderr(false);
            let mut p = within("exec with stdin", async {
                Ok(pods
                    .exec("ticker", ["sh", "-c", "cat; echo done"], &ap)
                    .await?)
            })
            .await?;
            let mut stdin = p.stdin().context("stdin")?;
            stdin.write_all(b"piped in\n").await?;
            // The kube crate's stdin ends on shutdown (dropping the half does not).
            stdin.shutdown().await?;
            let (out, status) = within("exec with stdin", exec_output(p)).await?;
            ensure!(out == "piped in\ndone\n", "stdin exec: {out:?} {status:?}");

            // attach: the main process's stdin and output.
            let ap = AttachParams::default()
                .stdin(true)
                .stdout(true)
                .stderr(false);
            let mut p = within("attach", async { Ok(pods.attach("shell", &ap).await?) }).await?;
            let mut stdin = p.stdin().context("stdin")?;
            let mut stdout = p.stdout().context("stdout")?;
            stdin.write_all(b"echo attached-$((6*7))\n").await?;
            let mut seen = Vec::new();
            tokio::time::timeout(Duration::from_secs(15), async {
                let mut buf = [0u8; 256];
                while !String::from_utf8_lossy(&seen).contains("attached-42") {
                    let n = stdout.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                anyhow::Ok(())
            })
            .await
            .context("attach output never came")??;
            ensure!(
                String::from_utf8_lossy(&seen).contains("attached-42"),
                "attach: {seen:?}"
            );
            // stdinOnce: ending stdin ends sh, and with it the session.
            let status = p.take_status().context("status")?;
            stdin.write_all(b"exit 0\n").await?;
            stdin.shutdown().await?;
            let status = tokio::time::timeout(Duration::from_secs(20), status)
                .await
                .context("attach did not end with the container")?
                .context("no status")?;
            ensure!(
                status.status.as_deref() == Some("Success"),
                "attach: {status:?}"
            );
            p.join().await?;
            anyhow::Ok(())
        })?;
        Ok(())
    });
}

/// `logs` once the container printed its first tick.
async fn wait_for_async_logs(
    pods: &Api<Pod>,
    name: &str,
    lp: &LogParams,
) -> anyhow::Result<String> {
    for _ in 0..100 {
        let logs = pods.logs(name, lp).await?;
        if logs.contains("tick-1\n") {
            return Ok(logs);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("no tick-1 in {name}'s log")
}

/// `step`, failing after 30 s instead of hanging the test.
async fn within<T>(
    step: &str,
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .with_context(|| format!("{step}: no end in 30s"))?
}

/// All of an exec's stdout and its final status.
async fn exec_output(
    mut p: kube::api::AttachedProcess,
) -> anyhow::Result<(
    String,
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Status,
)> {
    let mut out = p.stdout().context("stdout")?;
    let status = p.take_status().context("status")?;
    let mut text = String::new();
    out.read_to_string(&mut text).await?;
    let status = status.await.context("no status")?;
    Ok((text, status))
}

/// `kubectl ARGS` on a terminal (`script` gives it a pty), `input` typed in; its exit
/// code and what the terminal showed.
fn kubectl_on_a_terminal(
    kubectl: &Kubectl,
    args: &[&str],
    input: &[u8],
) -> anyhow::Result<(Option<i32>, String)> {
    let probe = kubectl.command(args);
    let mut line = probe.get_program().to_string_lossy().into_owned();
    for arg in probe.get_args() {
        line.push_str(&format!(" '{}'", arg.to_string_lossy()));
    }
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for (key, value) in probe.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    if let Some(dir) = probe.get_current_dir() {
        script.current_dir(dir);
    }
    let mut child = script
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("run script(1)")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    // kubectl attaches after the pod runs: type once it could be listening.
    std::thread::sleep(Duration::from_millis(500));
    stdin.write_all(input)?;
    let out = child.wait_with_output()?;
    drop(stdin);
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    ))
}

#[test]
fn kubectl_follows_logs_execs_and_runs_attached() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        let kubectl = Kubectl::for_cluster(cp)?;
        cp.apply_yaml("ticker.yaml", &shell_pod("ticker", "busybox", TICKER, ""))?;
        let finite = "echo first; sleep 2; echo last";
        cp.apply_yaml(
            "finite.yaml",
            &shell_pod("finite", "busybox", finite, "  restartPolicy: Never\n"),
        )?;
        cp.apply_yaml("crasher.yaml", &crasher_pod())?;
        cp.wait_pod_running("ticker")?;

        // logs -f of a container that ends: everything, then kubectl exits.
        cp.wait_pod_running("finite")?;
        let followed = kubectl.ok(&["logs", "-f", "finite"])?;
        ensure!(followed == "first\nlast\n", "logs -f finite: {followed:?}");

        // logs -f of a running container: new lines keep coming.
        let mut child = kubectl
            .command(&["logs", "-f", "ticker"])
            .stdout(Stdio::piped())
            .spawn()?;
        let reader = std::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut ticks = 0;
        for line in std::io::BufRead::lines(reader) {
            if line?.starts_with("tick-") {
                ticks += 1;
            }
            if ticks == 8 {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        ensure!(ticks == 8, "logs -f ended after {ticks} ticks");

        // A crash-looping container's log is its last run, as the kubelet serves it; so is
        // --previous (the last terminated container).
        let shown = wait_for(
            "the crasher's last run in its log",
            Duration::from_secs(120),
            Duration::from_millis(500),
            || {
                let restarts = crash_looping(cp, 2)?;
                let logs = kubectl.ok(&["logs", "crasher"])?;
                let previous = kubectl.ok(&["logs", "--previous", "crasher"])?;
                let again = crash_looping(cp, 2)?;
                ensure!(restarts == again, "it restarted meanwhile");
                let want = format!("run-{restarts}\n");
                if logs == want && previous == want {
                    Ok(logs)
                } else {
                    bail!("restarts {restarts}: logs {logs:?} --previous {previous:?}")
                }
            },
        )?;
        ensure!(shown.starts_with("run-"), "{shown:?}");

        // exec: plain, and -it with its exit code.
        let hostname = kubectl.ok(&["exec", "ticker", "--", "cat", "/etc/hostname"])?;
        ensure!(
            hostname == "ticker\n",
            "exec cat /etc/hostname: {hostname:?}"
        );
        let out = kubectl.run(&["exec", "ticker", "--", "sh", "-c", "exit 3"])?;
        ensure!(out.code == Some(3), "exec exit 3: {out:?}");
        let (code, shown) = kubectl_on_a_terminal(
            &kubectl,
            &["exec", "-it", "ticker", "--", "sh", "-c", "tty; exit 3"],
            b"",
        )?;
        ensure!(code == Some(3), "exec -it exit {code:?}: {shown}");
        ensure!(
            shown.contains("/dev/pts/"),
            "no terminal in the container: {shown}"
        );

        // run -it --rm: attached to the new container's terminal, its exit code kubectl's.
        let (code, shown) = kubectl_on_a_terminal(
            &kubectl,
            &[
                "run",
                "attached",
                "-it",
                "--rm",
                "--restart=Never",
                "--image=busybox",
                "--",
                "sh",
            ],
            b"echo ran-$((6*7)); tty; exit 4\n",
        )?;
        ensure!(shown.contains("ran-42"), "run -it output: {shown}");
        ensure!(
            shown.contains("/dev/pts/"),
            "run -it had no terminal: {shown}"
        );
        ensure!(code == Some(4), "run -it --rm exit {code:?}: {shown}");
        ensure!(
            shown.contains("pod \"attached\" deleted"),
            "not removed: {shown}"
        );
        Ok(())
    });
}
