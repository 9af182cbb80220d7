//! Containers' output through the log copier, against a real containerd: CRI lines with
//! the times they were read, and a copy that a restarted agent takes over.

use jiff::Timestamp;

use super::*;
use crate::container_logs::cri_line::{self, Stream};
use crate::container_logs::LogQuery;

/// Every CRI record of the log of `name`: (time, stream, text).
fn records(env: &Env, name: &str) -> Vec<(Timestamp, Stream, String)> {
    let data = std::fs::read(env.log_path(name)).unwrap_or_default();
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let r = cri_line::parse(l).unwrap_or_else(|| panic!("not a CRI line: {l:?}"));
            let text = String::from_utf8_lossy(r.text).into_owned();
            (r.time.unwrap(), r.stream.unwrap(), text)
        })
        .collect()
}

async fn wait_for(env: &Env, name: &str, text: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !records(env, name).iter().any(|r| r.2 == text) {
        ensure!(
            Instant::now() < deadline,
            "{text:?} not in the log of {name}: {:?}",
            records(env, name)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// This test's own containerd namespace: a listing by another test's cleanup in the shared
/// one would reopen this container's FIFOs while "no agent runs" here.
const LOGS_NAMESPACE: &str = "skiff-test-logs";

/// The agent dies (its runtime, and with it the copier, dropped) while the container
/// keeps writing; the next agent's listing of containers reopens the FIFOs and the
/// output written meanwhile reaches the log, stamped when it was read.
#[test]
fn real_output_arrives_with_times_and_survives_an_agent_restart() {
    let first = tokio::runtime::Runtime::new().unwrap();
    let mut env = match first.block_on(setup_in("logs", LOGS_NAMESPACE)) {
        Ok(Some(env)) => env,
        Ok(None) => return,
        Err(e) => panic!("setup: {e:#}"),
    };
    let started = Timestamp::now();
    let script = "echo before; echo oops >&2; sleep 4; echo during; echo late-err >&2; \
                  sleep 1000";
    let ran = first.block_on(async {
        let sandbox = env.sandbox()?;
        env.run(&sandbox, "main", script).await?;
        wait_for(&env, "main", "before").await?;
        wait_for(&env, "main", "oops").await
    });
    // The agent is gone: its tasks (the copier) and its containerd connection.
    drop(first);
    let died = Timestamp::now();
    let second = tokio::runtime::Runtime::new().unwrap();
    let result = second.block_on(async {
        ran?;
        let sock = socket().expect("socket");
        env.runtime = ContainerRuntime::new(Containerd::connect_lazy(&sock, LOGS_NAMESPACE)?);
        // Long enough for "during" to be written while no agent reads.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let seen = records(&env, "main");
        ensure!(
            !seen.iter().any(|r| r.2 == "during"),
            "copied while no agent ran: {seen:?} died {died}"
        );
        let adopted = Timestamp::now();
        env.runtime.list().await?;
        wait_for(&env, "main", "during").await?;
        wait_for(&env, "main", "late-err").await?;
        let seen = records(&env, "main");
        let find = |text: &str| seen.iter().find(|r| r.2 == text).cloned().unwrap();
        let (before, oops, during, late) = (
            find("before"),
            find("oops"),
            find("during"),
            find("late-err"),
        );
        ensure!(
            before.1 == Stream::Stdout && oops.1 == Stream::Stderr,
            "{seen:?}"
        );
        ensure!(
            during.1 == Stream::Stdout && late.1 == Stream::Stderr,
            "{seen:?}"
        );
        ensure!(
            started <= before.0 && before.0 <= died,
            "{seen:?} started {started} died {died}"
        );
        // Read by the second agent, so stamped after it came.
        ensure!(during.0 >= adopted, "{seen:?} adopted {adopted}");
        // As a reader sees it: since the restart only the late lines, stamped.
        let text = env.log_text(
            "main",
            LogQuery {
                since: Some(adopted),
                timestamps: true,
                ..Default::default()
            },
        );
        // The two streams were read together: either may come first in the file.
        let want: String = seen
            .iter()
            .filter(|r| r.0 >= adopted)
            .map(|r| format!("{} {}\n", cri_line::format_time(r.0), r.2))
            .collect();
        ensure!(want.lines().count() == 2, "{seen:?}");
        ensure!(text == want, "{text:?} != {want:?}");
        Ok(())
    });
    let env = Arc::new(env);
    let cleaned = second.block_on(env.cleanup());
    result.unwrap();
    cleaned.unwrap();
}
