//! Task starts as containerd reports them (`ctr events`, `/tasks/start`), each stamped as
//! its line arrives, for benchmarks that time pod starts without polling (a `ctr` call
//! alone costs tens of milliseconds).

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::process::terminate;
use crate::TestContainerd;

/// A `ctr events` subscription in the containerd's (agent's) namespace.
pub struct TaskStarts {
    child: Child,
    rx: Receiver<(Instant, String)>,
}

impl TaskStarts {
    pub fn start(containerd: &TestContainerd) -> anyhow::Result<Self> {
        let mut child: Child = containerd
            .ctr_command(containerd.namespace())
            .arg("events")
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        let namespace = containerd.namespace();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let at = Instant::now();
                if let Some(id) = task_start_id(&line, namespace) {
                    if tx.send((at, id)).is_err() {
                        return;
                    }
                }
            }
        });
        std::thread::sleep(Duration::from_millis(300)); // let the subscription settle
        Ok(TaskStarts { child, rx })
    }

    /// The next task start: when it arrived and the container id.
    pub fn next_start(&mut self, timeout: Duration) -> anyhow::Result<(Instant, String)> {
        match self.rx.recv_timeout(timeout) {
            Ok(event) => Ok(event),
            Err(e) => bail!("no /tasks/start event within {timeout:?}: {e}"),
        }
    }

    /// Forgets the starts seen so far.
    pub fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }
}

impl Drop for TaskStarts {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(1));
    }
}

/// `<timestamp> <namespace> /tasks/start {"container_id":"ID","pid":N}` → ID, for the
/// agent's namespace only (the subscription sees every namespace).
fn task_start_id(line: &str, namespace: &str) -> Option<String> {
    let (head, json) = line.split_once(" /tasks/start ")?;
    if head.rsplit(' ').next() != Some(namespace) {
        return None;
    }
    let event: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    Some(event["container_id"].as_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_task_start_events_of_one_namespace() {
        let line = r#"2026-11-22 04:56:21.69 +0000 UTC skiff /tasks/start {"container_id":"abc","pid":42}"#;
        assert_eq!(task_start_id(line, "skiff").as_deref(), Some("abc"));
        assert_eq!(task_start_id(line, "other"), None);
        assert_eq!(task_start_id("2026 skiff /tasks/create {}", "skiff"), None);
    }
}
