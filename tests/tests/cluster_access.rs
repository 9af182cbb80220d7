//! Logs and exec through the control plane: the CLI talks only to the control plane,
//! which relays to the node's agent over TLS. `logs` (plain, `-f`, errors), `exec` (exit
//! codes, stdin with `-i`, a real terminal with `-it` driven through `script`'s pty) and
//! the same exec straight against the agent's socket.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use skiff_e2e::agent::find_binary;
use skiff_e2e::pods::{phase, shell_pod};
use skiff_e2e::{wait_for, ClusterEnv, TestControlPlane};

const POD: &str = "chatty";

fn wait_running(cp: &TestControlPlane, name: &str) -> anyhow::Result<()> {
    wait_for(
        "the pod Running",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let pod = cp.get_json("pod", name)?;
            if phase(&pod) == "Running" {
                Ok(())
            } else {
                bail!("status: {}", pod["status"])
            }
        },
    )
}

/// `skiff ARGS` with the cluster's admin.conf, stdin fed from `input`.
fn skiff_with_stdin(
    cp: &TestControlPlane,
    args: &[&str],
    input: &[u8],
) -> anyhow::Result<std::process::Output> {
    let mut child = Command::new(find_binary("skiff")?)
        .env("SKIFF_CONFIG", cp.data().join("admin.conf"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(input)?;
    Ok(child.wait_with_output()?)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn logs_and_exec_go_through_the_control_plane() {
    ClusterEnv::run(|env| {
        let cp = &env.cp;
        let script =
            "echo hello-logs; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done";
        cp.apply_yaml("chatty.yaml", &shell_pod(POD, "busybox", script, ""))?;
        wait_running(cp, POD)?;

        // logs: what the container printed so far, then following it.
        let logs = wait_for(
            "the first lines in the log",
            Duration::from_secs(20),
            Duration::from_millis(300),
            || {
                let logs = cp.skiff(&["logs", POD])?;
                if logs.contains("hello-logs") && logs.contains("tick-1") {
                    Ok(logs)
                } else {
                    bail!("logs: {logs:?}")
                }
            },
        )?;
        ensure!(logs.starts_with("hello-logs\n"), "logs: {logs:?}");
        let tail = cp.skiff(&["logs", POD, "--tail", "1"])?;
        ensure!(
            tail.lines().count() == 1 && tail.starts_with("tick-"),
            "--tail 1: {tail:?}"
        );
        let seen: u64 = logs.lines().filter(|l| l.starts_with("tick-")).count() as u64;
        let mut follow = Command::new(find_binary("skiff")?)
            .env("SKIFF_CONFIG", cp.data().join("admin.conf"))
            .args(["logs", "-f", POD])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let target = format!("tick-{}", seen + 3);
        let mut lines = BufReader::new(follow.stdout.take().context("stdout")?).lines();
        let followed = lines
            .by_ref()
            .take(500)
            .map_while(Result::ok)
            .any(|l| l == target);
        let _ = follow.kill();
        let _ = follow.wait();
        ensure!(
            followed,
            "logs -f never showed {target}, printed later than the plain read"
        );

        // Clear errors: an unknown container, a pod that is not scheduled.
        let out = cp.skiff_output(&["logs", POD, "-c", "nope"])?;
        ensure!(!out.status.success(), "logs -c nope succeeded");
        ensure!(
            text(&out.stderr).contains("container nope is not valid for pod chatty"),
            "stderr: {}",
            text(&out.stderr)
        );
        let pending = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nowhere\nspec:\n  nodeSelector:\n    disktype: none\n  containers:\n  - name: c\n    image: busybox\n";
        cp.apply_yaml("nowhere.yaml", pending)?;
        // As kube-apiserver: an unscheduled pod's log is empty, its exec a BadRequest.
        let out = cp.skiff_output(&["logs", "nowhere"])?;
        ensure!(
            out.status.success() && out.stdout.is_empty(),
            "logs of an unscheduled pod: {out:?}"
        );
        let out = cp.skiff_output(&["exec", "nowhere", "--", "true"])?;
        ensure!(
            text(&out.stderr).trim_end()
                == "Error from server (BadRequest): pod nowhere does not have a host assigned",
            "stderr: {}",
            text(&out.stderr)
        );

        // exec: output on the right streams, the exit code becomes skiff's.
        let out = cp.skiff_output(&[
            "exec",
            POD,
            "--",
            "sh",
            "-c",
            "echo out-$((6*7)); echo err >&2; exit 3",
        ])?;
        ensure!(
            out.status.code() == Some(3),
            "exit status {:?}, stderr {}",
            out.status,
            text(&out.stderr)
        );
        ensure!(
            text(&out.stdout) == "out-42\n",
            "stdout: {:?}",
            text(&out.stdout)
        );
        ensure!(
            text(&out.stderr) == "err\n",
            "stderr: {:?}",
            text(&out.stderr)
        );
        let ok = cp.skiff_output(&["exec", POD, "-c", "main", "--", "true"])?;
        ensure!(ok.status.success(), "exec true: {ok:?}");
        let out = cp.skiff_output(&["exec", POD, "-c", "nope", "--", "true"])?;
        ensure!(
            text(&out.stderr).contains("container nope is not valid"),
            "stderr: {}",
            text(&out.stderr)
        );

        // -i: stdin reaches the process, and its end closes the process's stdin.
        let out = skiff_with_stdin(
            cp,
            &["exec", "-i", POD, "--", "sh", "-c", "cat; echo done"],
            b"piped in\n",
        )?;
        ensure!(out.status.success(), "exec -i: {}", text(&out.stderr));
        ensure!(
            text(&out.stdout) == "piped in\ndone\n",
            "stdout: {:?}",
            text(&out.stdout)
        );

        // -it on a real terminal: `script` gives skiff a pty; the remote shell has one too.
        let skiff = find_binary("skiff")?;
        let line = format!("{} exec -it {POD} -- sh", skiff.display());
        let mut script = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("SKIFF_CONFIG", cp.data().join("admin.conf"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("run script(1)")?;
        script
            .stdin
            .take()
            .context("stdin")?
            .write_all(b"tty; echo answer-$((6*7)); exit 5\n")?;
        let out = script.wait_with_output()?;
        let shown = text(&out.stdout);
        ensure!(
            out.status.code() == Some(5),
            "exec -it exit {:?}: {shown:?} {}",
            out.status,
            text(&out.stderr)
        );
        ensure!(
            shown.contains("/dev/pts/"),
            "the remote shell had no terminal: {shown:?}"
        );
        ensure!(shown.contains("answer-42"), "output: {shown:?}");

        // The same exec straight against the node agent's socket.
        let out =
            env.node
                .agent
                .skiff(&["exec", POD, "--", "sh", "-c", "echo via-agent; exit 7"])?;
        ensure!(out.status.code() == Some(7), "agent exec: {out:?}");
        ensure!(
            text(&out.stdout) == "via-agent\n",
            "agent exec stdout: {:?}",
            text(&out.stdout)
        );
        Ok(())
    });
}
