//! The privileged half of the proxy: `nft`, `iptables-restore`, `iptables-save`,
//! `conntrack`, sysctls.
//! [`HostExec`] runs the tools (optionally inside a named network namespace, for tests
//! and benchmarks); `fake::RecordingExec` records what would have run, in unit tests.

use std::process::Stdio;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::session::{IptSession, NftSession, Outcome, Session};
use super::ProxyError;

pub trait ProxyExec: Send + Sync + 'static {
    /// Runs an nft script as one transaction (`nft -f -`).
    fn nft<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<(), ProxyError>>;

    /// Like [`Self::nft`], for small, frequent scripts: may go through a long-lived nft.
    fn nft_update<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<(), ProxyError>> {
        self.nft(script)
    }

    /// `nft -t list table ip <table>` (no set contents); `None` when there is no table.
    fn nft_list<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<Option<String>, ProxyError>>;

    /// Feeds `input` to `iptables-restore --noflush` (one transaction per table).
    fn iptables_restore<'a>(&'a self, input: &'a str) -> BoxFuture<'a, Result<(), ProxyError>>;

    /// Like [`Self::iptables_restore`], for small, frequent inputs: may go through a
    /// long-lived iptables-restore.
    fn iptables_restore_update<'a>(
        &'a self,
        input: &'a str,
    ) -> BoxFuture<'a, Result<(), ProxyError>> {
        self.iptables_restore(input)
    }

    /// `iptables-save -t <table>`.
    fn iptables_save<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<String, ProxyError>>;

    /// `conntrack <args>` (a delete: finding no entry is no error).
    fn conntrack<'a>(&'a self, args: &'a [String]) -> BoxFuture<'a, Result<(), ProxyError>>;

    /// Writes `value` to `/proc/sys/<key with dots as slashes>`.
    fn sysctl<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, Result<(), ProxyError>>;
}

/// Runs the real tools, in the agent's network namespace or in the named one.
#[derive(Debug, Clone, Default)]
pub struct HostExec {
    /// A namespace under /run/netns, for tests and benchmarks.
    pub netns: Option<String>,
    /// The `nft -i` behind [`ProxyExec::nft_update`], started on first use.
    session: Arc<tokio::sync::Mutex<Option<NftSession>>>,
    /// The iptables-restore behind [`ProxyExec::iptables_restore_update`].
    ipt_session: Arc<tokio::sync::Mutex<Option<IptSession>>>,
}

impl HostExec {
    pub fn in_netns(name: impl Into<String>) -> Self {
        HostExec {
            netns: Some(name.into()),
            ..Default::default()
        }
    }

    /// The command, entering the namespace between fork and exec (`setns` on the child:
    /// cheaper than `ip netns exec`, which also sets up a mount namespace). The file
    /// must stay open until the child is spawned.
    fn command(&self, program: &str) -> std::io::Result<(Command, Option<std::fs::File>)> {
        let mut cmd = Command::new(program);
        let Some(ns) = &self.netns else {
            return Ok((cmd, None));
        };
        let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        // SAFETY: only setns(2), async-signal-safe, runs in the forked child; `fd` stays
        // open in the parent (the returned file) until the spawn is done.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Ok((cmd, Some(file)))
    }

    async fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<std::process::Output, ProxyError> {
        let tool = |e: std::io::Error| ProxyError::Tool {
            tool: program.to_string(),
            reason: e.to_string(),
        };
        let (mut cmd, netns) = self.command(program).map_err(tool)?;
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(tool)?;
        drop(netns);
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).await.map_err(tool)?;
            drop(pipe);
        }
        child.wait_with_output().await.map_err(tool)
    }

    /// Applies `script` through the session in `slot`, started on first use and dropped
    /// when broken. `None`: no session could be started (use the one-shot tool).
    async fn via_session<S: Session>(
        &self,
        slot: &tokio::sync::Mutex<Option<S>>,
        script: &str,
    ) -> Option<Result<(), ProxyError>> {
        let mut slot = slot.lock().await;
        if slot.is_none() {
            let started = self
                .command(S::PROGRAM)
                .map_err(|e| ProxyError::Tool {
                    tool: S::PROGRAM.into(),
                    reason: e.to_string(),
                })
                .and_then(|(cmd, _netns)| S::start(cmd));
            match started {
                Ok(s) => *slot = Some(s),
                Err(e) => {
                    tracing::warn!(tool = S::PROGRAM, error = %e, "long-lived session unavailable, running the tool per update");
                    return None;
                }
            }
        }
        let session = slot.as_mut()?;
        Some(match session.apply(script).await {
            Outcome::Applied => Ok(()),
            Outcome::Refused(e) => Err(e),
            Outcome::Broken(e) => {
                *slot = None;
                Err(e)
            }
        })
    }

    async fn run_ok(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, ProxyError> {
        let out = self.run(program, args, stdin).await?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(ProxyError::Tool {
                tool: program.to_string(),
                reason: format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })
        }
    }
}

impl ProxyExec for HostExec {
    fn nft<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move {
            self.run_ok("nft", &["-f", "-"], Some(script))
                .await
                .map(drop)
        })
    }

    fn nft_update<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move {
            match self.via_session(&self.session, script).await {
                Some(result) => result,
                None => self.nft(script).await,
            }
        })
    }

    fn nft_list<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<Option<String>, ProxyError>> {
        Box::pin(async move {
            let out = self
                .run("nft", &["-t", "list", "table", "ip", table], None)
                .await?;
            if out.status.success() {
                return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
            }
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("No such file or directory") {
                Ok(None)
            } else {
                Err(ProxyError::Tool {
                    tool: "nft".into(),
                    reason: err.trim().to_string(),
                })
            }
        })
    }

    fn iptables_restore<'a>(&'a self, input: &'a str) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move {
            self.run_ok("iptables-restore", &["-w", "--noflush"], Some(input))
                .await
                .map(drop)
        })
    }

    fn iptables_restore_update<'a>(
        &'a self,
        input: &'a str,
    ) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move {
            match self.via_session(&self.ipt_session, input).await {
                Some(result) => result,
                None => self.iptables_restore(input).await,
            }
        })
    }

    fn iptables_save<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<String, ProxyError>> {
        Box::pin(async move { self.run_ok("iptables-save", &["-t", table], None).await })
    }

    fn conntrack<'a>(&'a self, args: &'a [String]) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move {
            // Looked up once: the tool does not come and go while the agent runs.
            static PRESENT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
            static WARNED: std::sync::Once = std::sync::Once::new();
            if !*PRESENT.get_or_init(|| super::on_path("conntrack")) {
                WARNED.call_once(|| {
                    tracing::warn!("conntrack not installed: UDP clients of a removed endpoint keep reaching it until their flow times out");
                });
                return Ok(());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = self.run("conntrack", &args, None).await?;
            let err = String::from_utf8_lossy(&out.stderr);
            if out.status.success() || err.contains(" 0 flow entries have been deleted") {
                Ok(())
            } else {
                Err(ProxyError::Tool {
                    tool: "conntrack".into(),
                    reason: format!("{}: {}", out.status, err.trim()),
                })
            }
        })
    }

    fn sysctl<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            match &self.netns {
                // /proc/sys/net belongs to the writer's namespace.
                Some(_) => self
                    .run_ok("sh", &["-c", &format!("echo {value} > {path}")], None)
                    .await
                    .map(drop),
                None => tokio::fs::write(&path, value)
                    .await
                    .map_err(|e| ProxyError::Tool {
                        tool: "sysctl".into(),
                        reason: format!("{path}: {e}"),
                    }),
            }
        })
    }
}
