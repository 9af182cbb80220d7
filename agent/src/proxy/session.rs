//! Long-lived `nft -i` and `iptables-restore` processes for single-service updates.
//!
//! Every `nft -f` run costs a process start, a cache fetch and, after a transaction that
//! deletes anything, a wait in the kernel when its netlink socket closes (an RCU grace
//! period: ~10 ms on a loaded 2-core VM). One interactive nft kept open skips all three:
//! an update is one line (one line = one transaction: an error anywhere applies none of
//! it), followed by a marker line that is no command, so its error, echoed on stderr
//! after the update's own output, says the update is done. Lines before the marker's
//! error are the update's error.
//!
//! [`IptSession`] does the same for iptables: `iptables-restore -v --noflush` commits
//! each `*table ... COMMIT` block as it reads it and echoes comment lines on stdout once
//! everything before them is done, so a `# marker` line after a block says it is
//! applied; a refused block makes it exit with the reason on stderr.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use futures::future::BoxFuture;

use super::ProxyError;

/// A long-lived tool process that applies one transaction at a time.
pub trait Session: Sized + Send {
    /// The program to start (the caller enters the namespace).
    const PROGRAM: &'static str;
    fn start(cmd: Command) -> Result<Self, ProxyError>;
    fn apply<'a>(&'a mut self, script: &'a str) -> BoxFuture<'a, Outcome>;
}

impl Session for NftSession {
    const PROGRAM: &'static str = "nft";
    fn start(cmd: Command) -> Result<Self, ProxyError> {
        NftSession::start(cmd)
    }
    fn apply<'a>(&'a mut self, script: &'a str) -> BoxFuture<'a, Outcome> {
        Box::pin(NftSession::apply(self, script))
    }
}

impl Session for IptSession {
    const PROGRAM: &'static str = "iptables-restore";
    fn start(cmd: Command) -> Result<Self, ProxyError> {
        IptSession::start(cmd)
    }
    fn apply<'a>(&'a mut self, script: &'a str) -> BoxFuture<'a, Outcome> {
        Box::pin(IptSession::apply(self, script))
    }
}

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
    tool_err("nft -i", reason)
}

fn tool_err(tool: &str, reason: impl Into<String>) -> ProxyError {
    ProxyError::Tool {
        tool: tool.into(),
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

/// `iptables-restore -v --noflush`, kept open.
#[derive(Debug)]
pub struct IptSession {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: ChildStderr,
    seq: u64,
}

const IPT: &str = "iptables-restore";

impl IptSession {
    /// Starts it from `cmd` (the caller has set the program and namespace).
    pub fn start(mut cmd: Command) -> Result<IptSession, ProxyError> {
        cmd.args(["-w", "-v", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| tool_err(IPT, e.to_string()))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| tool_err(IPT, "no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| tool_err(IPT, "no stdout"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| tool_err(IPT, "no stderr"))?;
        Ok(IptSession {
            _child: child,
            stdin,
            stdout: BufReader::new(stdout),
            stderr,
            seq: 0,
        })
    }

    /// Applies `input` (whole `*table ... COMMIT` blocks). A refused input ends the
    /// process, so every failure is [`Outcome::Broken`], with iptables' reason.
    pub async fn apply(&mut self, input: &str) -> Outcome {
        match tokio::time::timeout(TIMEOUT, self.exchange(input)).await {
            Ok(Ok(())) => Outcome::Applied,
            Ok(Err(e)) => Outcome::Broken(tool_err(IPT, e)),
            Err(_) => Outcome::Broken(tool_err(IPT, "no answer in time")),
        }
    }

    async fn exchange(&mut self, input: &str) -> Result<(), String> {
        self.seq += 1;
        let marker = format!("# skiff_sync_{}", self.seq);
        let sent = async {
            self.stdin
                .write_all(format!("{input}{marker}\n").as_bytes())
                .await?;
            self.stdin.flush().await
        };
        if let Err(e) = sent.await {
            return Err(self.reason(e).await);
        }
        loop {
            let mut l = String::new();
            match self.stdout.read_line(&mut l).await {
                Ok(0) => return Err(self.reason(std::io::ErrorKind::UnexpectedEof.into()).await),
                Ok(_) if l.trim_end() == marker => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(self.reason(e).await),
            }
        }
    }

    /// Why the process stopped: what it wrote on stderr, else `e`.
    async fn reason(&mut self, e: std::io::Error) -> String {
        let mut text = String::new();
        let _ = self.stderr.read_to_string(&mut text).await;
        match text.trim() {
            "" => e.to_string(),
            t => t.to_string(),
        }
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
