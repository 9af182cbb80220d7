//! A long-lived `nft -i` for single-service updates.
//!
//! Every `nft -f` run costs a process start, a cache fetch and, after a transaction that
//! deletes anything, a wait in the kernel when its netlink socket closes (an RCU grace
//! period: ~10 ms on a loaded 2-core VM). One interactive nft kept open skips all three:
//! an update is one line (one line = one transaction: an error anywhere applies none of
//! it), followed by a marker line that is no command, so its error, echoed on stderr
//! after the update's own output, says the update is done. Lines before the marker's
//! error are the update's error.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, Command};

use super::ProxyError;

/// How long an update may take before the session is thrown away.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct NftSession {
    _child: Child,
    stdin: ChildStdin,
    stderr: BufReader<ChildStderr>,
    seq: u64,
}

fn err(reason: impl Into<String>) -> ProxyError {
    ProxyError::Tool {
        tool: "nft -i".into(),
        reason: reason.into(),
    }
}

impl NftSession {
    /// Starts `nft -i` from `cmd` (the caller has set the program and namespace).
    pub fn start(mut cmd: Command) -> Result<NftSession, ProxyError> {
        cmd.arg("-i")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| err(e.to_string()))?;
        let stdin = child.stdin.take().ok_or_else(|| err("no stdin"))?;
        let stderr = child.stderr.take().ok_or_else(|| err("no stderr"))?;
        Ok(NftSession {
            _child: child,
            stdin,
            stderr: BufReader::new(stderr),
            seq: 0,
        })
    }

    /// Applies `script` as one transaction. `Err(Tool)` with nft's message when nft
    /// refused it (the session stays usable); any other failure means the session is
    /// broken and must be dropped: see [`Outcome`].
    pub async fn apply(&mut self, script: &str) -> Outcome {
        match tokio::time::timeout(TIMEOUT, self.exchange(script)).await {
            Ok(Ok(errors)) if errors.is_empty() => Outcome::Applied,
            Ok(Ok(errors)) => Outcome::Refused(err(errors.join("\n"))),
            Ok(Err(e)) => Outcome::Broken(err(e.to_string())),
            Err(_) => Outcome::Broken(err("no answer in time")),
        }
    }

    async fn exchange(&mut self, script: &str) -> std::io::Result<Vec<String>> {
        self.seq += 1;
        let marker = format!("skiff_sync_{}", self.seq);
        let line = one_line(script);
        self.stdin
            .write_all(format!("{line}\n{marker}\n").as_bytes())
            .await?;
        self.stdin.flush().await?;
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            if self.stderr.read_line(&mut l).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if l.contains(&marker) {
                break;
            }
            lines.push(l.trim_end().to_string());
        }
        // The marker's own "Error: ..." line; caret lines (of earlier markers too).
        lines.pop();
        lines.retain(|l| !l.trim().is_empty() && !l.trim().chars().all(|c| "^~ ".contains(c)));
        Ok(lines)
    }
}

pub enum Outcome {
    Applied,
    Refused(ProxyError),
    Broken(ProxyError),
}

/// nft -i reads a line at a time: the commands joined with `;`.
fn one_line(script: &str) -> String {
    script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn commands_joined_on_one_line() {
        assert_eq!(
            one_line("add set ip t s { type ipv4_addr; }\n\ndelete element ip t s { 1.2.3.4 }\n"),
            "add set ip t s { type ipv4_addr; }; delete element ip t s { 1.2.3.4 }"
        );
    }
}
