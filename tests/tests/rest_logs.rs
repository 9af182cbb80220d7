//! Container logs with times, as Kubernetes serves them: the real kubectl's
//! `logs --timestamps`, `--since` and `--since-time`, and the kube crate's `log_stream`
//! with `since_seconds`, against a pod printing a line every second, its log rotated
//! every few lines.

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use futures::{AsyncBufReadExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::pods::shell_pod;
use skiff_e2e::{kube_client, wait_for, ClusterEnv};

const EVERY_SECOND: &str = "i=0; while true; do i=$((i+1)); echo line-$i; sleep 1; done";

/// `<time> line-N` lines as `kubectl logs --timestamps` prints them.
fn stamped(text: &str) -> anyhow::Result<Vec<(Timestamp, String)>> {
    text.lines()
        .map(|l| {
            let (time, rest) = l.split_once(' ').context(format!("no time in {l:?}"))?;
            let t: Timestamp = time.parse().context(format!("time of {l:?}"))?;
            Ok((t, rest.to_string()))
        })
        .collect()
}

/// The line numbers of `line-N` lines.
fn numbers(text: &str) -> anyhow::Result<Vec<u32>> {
    text.lines()
        .map(|l| {
            l.strip_prefix("line-")
                .and_then(|n| n.parse().ok())
                .context(format!("not a line-N: {l:?}"))
        })
        .collect()
}

/// Lines since `seconds` ago: at least one, at most `seconds + 1`, the newest ones.
fn check_recent(text: &str, seconds: u32, before: u32) -> anyhow::Result<()> {
    let got = numbers(text)?;
    ensure!(
        !got.is_empty() && got.len() <= seconds as usize + 1,
        "since {seconds}s: {text:?}"
    );
    ensure!(
        got.windows(2).all(|w| w[1] == w[0] + 1) && got[0] + 3 > before,
        "since {seconds}s, with {before} lines printed before: {text:?}"
    );
    Ok(())
}

#[test]
fn logs_with_times_since_and_timestamps() {
    // Small log files, so the reads above go across rotated ones (a line is ~40 bytes).
    let rotation = [
        "--container-log-max-size=200",
        "--container-log-max-files=4",
    ];
    ClusterEnv::run_with_args(&[], &rotation, |env| {
        let cp = &env.cp;
        let kubectl = Kubectl::for_cluster(cp)?;
        cp.apply_yaml(
            "second.yaml",
            &shell_pod("second", "busybox", EVERY_SECOND, ""),
        )?;
        cp.wait_pod_running("second")?;
        let full = wait_for(
            "six lines",
            Duration::from_secs(30),
            Duration::from_millis(500),
            || {
                let logs = kubectl.ok(&["logs", "--timestamps", "second"])?;
                if logs.lines().count() >= 6 {
                    Ok(logs)
                } else {
                    bail!("logs: {logs:?}")
                }
            },
        )?;

        // --timestamps: each line after the time it was written, in order, one a second.
        let lines = stamped(&full)?;
        for (i, (_, text)) in lines.iter().enumerate() {
            ensure!(*text == format!("line-{}", i + 1), "{full:?}");
        }
        ensure!(
            lines
                .windows(2)
                .all(|w| w[1].0 >= w[0].0 + jiff::SignedDuration::from_millis(900)),
            "a second apart: {full:?}"
        );
        let newest = lines.last().context("no line")?.0;
        ensure!(
            newest.duration_until(Timestamp::now()) >= jiff::SignedDuration::ZERO
                && newest.duration_until(Timestamp::now()) < jiff::SignedDuration::from_secs(30),
            "times are the node's now: {full:?}"
        );
        let plain = kubectl.ok(&["logs", "second"])?;
        ensure!(
            plain.starts_with("line-1\nline-2\n"),
            "without --timestamps: {plain:?}"
        );

        // --since=2s: only the recent lines.
        let printed = numbers(&kubectl.ok(&["logs", "second"])?)?.len() as u32;
        let recent = kubectl.ok(&["logs", "--since=2s", "second"])?;
        check_recent(&recent, 2, printed)?;

        // --since-time: from line-4 on (kubectl sends whole seconds; lines are a second apart).
        let fourth = whole_seconds(&lines[3].0);
        let since = kubectl.ok(&["logs", "--since-time", &fourth, "second"])?;
        ensure!(
            since.starts_with("line-4\nline-5\n"),
            "--since-time {fourth}: {since:?}"
        );
        let since_tail = kubectl.ok(&["logs", "--since-time", &fourth, "--tail=1", "second"])?;
        ensure!(numbers(&since_tail)?.len() == 1, "{since_tail:?}");

        // The kube crate: log_stream with since_seconds.
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(async {
            let client = kube_client::for_cluster(cp).await?;
            let pods: Api<Pod> = Api::default_namespaced(client);
            let printed = numbers(&pods.logs("second", &LogParams::default()).await?)?.len() as u32;
            let params = LogParams {
                since_seconds: Some(3),
                ..LogParams::default()
            };
            let mut stream = pods.log_stream("second", &params).await?.lines();
            let mut text = String::new();
            while let Some(line) = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .context("the log stream stalled")?
            {
                text.push_str(&line?);
                text.push('\n');
            }
            check_recent(&text, 3, printed)?;
            let stamped_stream = LogParams {
                timestamps: true,
                tail_lines: Some(2),
                ..LogParams::default()
            };
            let tail = pods.logs("second", &stamped_stream).await?;
            let tail = stamped(&tail)?;
            ensure!(tail.len() == 2, "{tail:?}");
            anyhow::Ok(())
        })?;
        Ok(())
    });
}

/// RFC3339 with whole seconds, as kubectl's `--since-time` help shows it.
fn whole_seconds(t: &Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
