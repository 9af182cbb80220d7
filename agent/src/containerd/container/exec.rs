//! Running a command inside a running container (`exec`), as exec probes need it.
//!
//! The process inherits the container's own process spec (env, cwd, user, capabilities)
//! with only its arguments replaced. Output comes back through FIFOs the agent creates and
//! the shim writes. This is the captured, non-interactive form; `attach.rs` builds the
//! attached one (`skiff exec -it`: stdin, a terminal) on the same pieces.

use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use containerd_client::services::v1::{
    DeleteProcessRequest, ExecProcessRequest, GetContainerRequest, KillRequest, StartRequest,
    WaitRequest,
};
use oci_spec::runtime::{Process, Spec};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tonic::Code;
use tracing::{debug, warn};

use super::lifecycle::ContainerRuntime;
use crate::containerd::RuntimeError;

/// The kubelet keeps at most this much of a probe command's output.
pub const MAX_EXEC_OUTPUT: usize = 10 * 1024;
const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";
/// How long a SIGKILLed exec process may take to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What a captured exec returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The process's exit status; 137 when it was killed after the timeout.
    pub exit_code: i32,
    /// stdout and stderr interleaved as they arrived, cut at [`MAX_EXEC_OUTPUT`].
    pub output: Vec<u8>,
    pub timed_out: bool,
}

impl ContainerRuntime {
    /// Runs `cmd` in the running container `container_id` and collects its output. After
    /// `timeout` the process is SIGKILLed and the result says `timed_out`. The exec
    /// process is always deleted, also when this future is dropped half-way.
    pub async fn exec(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput, RuntimeError> {
        if cmd.is_empty() {
            return Err(RuntimeError::InvalidArgument("exec: empty command".into()));
        }
        let mut process = self.process_spec(container_id).await?;
        process.set_args(Some(cmd));
        process.set_terminal(Some(false));
        process.set_console_size(None);
        let exec_id = new_exec_id();
        let mut fifos = Fifos::create(&exec_id)?;
        let mut proc = ExecProcess::create(self, container_id, &exec_id, &process, &fifos).await?;
        let mut capture = Capture::default();
        // Keep draining while the process runs: a full pipe would block the shim.
        let result = tokio::select! {
            r = proc.exec.run(timeout) => r,
            _ = capture.follow(&mut fifos) => unreachable!("fifos never reach end of file"),
        };
        // The shim finishes copying output before DeleteProcess returns.
        let deleted = tokio::select! {
            r = proc.delete() => r,
            _ = capture.follow(&mut fifos) => unreachable!("fifos never reach end of file"),
        };
        capture.drain(&fifos);
        let (code, timed_out) = result?;
        deleted?;
        Ok(ExecOutput {
            exit_code: i32::try_from(code).unwrap_or(i32::MAX),
            output: capture.output,
            timed_out,
        })
    }

    /// The container's own process spec, the template of every exec.
    pub(super) async fn process_spec(&self, container_id: &str) -> Result<Process, RuntimeError> {
        let c = self.client();
        let container = c
            .containers()
            .get(c.request(GetContainerRequest {
                id: container_id.into(),
            }))
            .await?
            .into_inner()
            .container
            .ok_or_else(|| RuntimeError::NotFound(format!("container {container_id}")))?;
        let any = container
            .spec
            .ok_or_else(|| RuntimeError::InvalidArgument(format!("{container_id} has no spec")))?;
        let spec: Spec = serde_json::from_slice(&any.value)
            .map_err(|e| RuntimeError::InvalidArgument(format!("spec of {container_id}: {e}")))?;
        spec.process()
            .clone()
            .ok_or_else(|| RuntimeError::InvalidArgument(format!("{container_id} has no process")))
    }
}

/// Exec ids must be unique per container and valid containerd identifiers.
pub(super) fn new_exec_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("exec-{:x}-{nanos:x}-{seq}", std::process::id())
}

/// A private directory for one exec's FIFOs (`skiff-<exec id>` under the temp dir).
pub(super) fn fifo_dir(exec_id: &str) -> Result<PathBuf, RuntimeError> {
    let dir = std::env::temp_dir().join(format!("skiff-{exec_id}"));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| RuntimeError::io(format!("create {}", dir.display()), e))?;
    Ok(dir)
}

/// Makes FIFO `dir/name`; the caller opens the end it needs.
pub(super) fn make_fifo(dir: &std::path::Path, name: &str) -> Result<PathBuf, RuntimeError> {
    let path = dir.join(name);
    nix::unistd::mkfifo(
        &path,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .map_err(|e| RuntimeError::io(format!("mkfifo {}", path.display()), e.into()))?;
    Ok(path)
}

/// Makes FIFO `dir/name` and opens its read end read-write, so it never sees end-of-file
/// before the shim connects.
pub(super) fn open_fifo_receiver(
    dir: &std::path::Path,
    name: &str,
) -> Result<pipe::Receiver, RuntimeError> {
    let path = make_fifo(dir, name)?;
    pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(&path)
        .map_err(|e| RuntimeError::io(format!("open {}", path.display()), e))
}

/// The FIFOs of one exec in a private directory, removed on drop. The read ends are
/// opened read-write, so they never see end-of-file before the shim connects.
struct Fifos {
    dir: PathBuf,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
}

impl Fifos {
    fn create(exec_id: &str) -> Result<Self, RuntimeError> {
        let dir = fifo_dir(exec_id)?;
        let open = |name: &str| open_fifo_receiver(&dir, name);
        let opened = open("stdout").and_then(|out| Ok((out, open("stderr")?)));
        match opened {
            Ok((stdout, stderr)) => Ok(Self {
                dir,
                stdout,
                stderr,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Fifos {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            warn!(dir = %self.dir.display(), error = %e, "exec fifos not removed");
        }
    }
}

/// Output collected from both FIFOs, capped; what goes past the cap is read and dropped.
#[derive(Default)]
struct Capture {
    output: Vec<u8>,
}

impl Capture {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_EXEC_OUTPUT.saturating_sub(self.output.len());
        self.output
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Reads both FIFOs until cancelled; returns only if both fail.
    async fn follow(&mut self, fifos: &mut Fifos) {
        let (mut out_buf, mut err_buf) = ([0u8; 4096], [0u8; 4096]);
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            tokio::select! {
                r = fifos.stdout.read(&mut out_buf), if out_open => match r {
                    Ok(n) if n > 0 => self.push(&out_buf[..n]),
                    _ => out_open = false,
                },
                r = fifos.stderr.read(&mut err_buf), if err_open => match r {
                    Ok(n) if n > 0 => self.push(&err_buf[..n]),
                    _ => err_open = false,
                },
            }
        }
        std::future::pending::<()>().await
    }

    /// Takes what is still buffered in the FIFOs without waiting for more. Reads the
    /// non-blocking descriptors directly: the reactor may not have seen the last writes.
    fn drain(&mut self, fifos: &Fifos) {
        let mut buf = [0u8; 4096];
        for rx in [&fifos.stdout, &fifos.stderr] {
            while let Ok(n) = nix::unistd::read(rx.as_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                self.push(&buf[..n]);
            }
        }
    }
}

/// One exec process in containerd.
#[derive(Clone)]
pub(super) struct ExecRef {
    pub(super) runtime: ContainerRuntime,
    pub(super) container_id: String,
    pub(super) exec_id: String,
}

/// Where an exec process's stdio goes (FIFO paths; empty means none).
pub(super) struct ExecStdio {
    pub(super) stdin: String,
    pub(super) stdout: String,
    pub(super) stderr: String,
    pub(super) terminal: bool,
}

impl ExecRef {
    /// Creates (does not start) exec process `exec_id` running `process` in the container.
    pub(super) async fn create(
        runtime: &ContainerRuntime,
        container_id: &str,
        exec_id: &str,
        process: &Process,
        stdio: ExecStdio,
    ) -> Result<ExecRef, RuntimeError> {
        let json = serde_json::to_vec(process)
            .map_err(|e| RuntimeError::InvalidArgument(format!("exec process spec: {e}")))?;
        let c = runtime.client();
        let req = ExecProcessRequest {
            container_id: container_id.into(),
            stdin: stdio.stdin,
            stdout: stdio.stdout,
            stderr: stdio.stderr,
            terminal: stdio.terminal,
            spec: Some(prost_types::Any {
                type_url: PROCESS_TYPE_URL.into(),
                value: json,
            }),
            exec_id: exec_id.into(),
        };
        c.tasks().exec(c.request(req)).await?;
        Ok(ExecRef {
            runtime: runtime.clone(),
            container_id: container_id.into(),
            exec_id: exec_id.into(),
        })
    }

    /// Starts the process and waits for it; SIGKILL once `timeout` has passed. Returns
    /// the exit status and whether it timed out.
    async fn run(&self, timeout: Duration) -> Result<(u32, bool), RuntimeError> {
        self.start().await?;
        if let Ok(code) = tokio::time::timeout(timeout, self.wait()).await {
            return Ok((code?, false));
        }
        debug!(container = %self.container_id, exec = %self.exec_id, "exec timed out, killing");
        self.kill().await?;
        match tokio::time::timeout(KILL_WAIT, self.wait()).await {
            Ok(code) => Ok((code?, true)),
            Err(_) => Err(RuntimeError::Unavailable(format!(
                "exec {} survived SIGKILL",
                self.exec_id
            ))),
        }
    }

    /// Starts the created process; returns its pid.
    pub(super) async fn start(&self) -> Result<u32, RuntimeError> {
        let c = self.runtime.client();
        let req = StartRequest {
            container_id: self.container_id.clone(),
            exec_id: self.exec_id.clone(),
        };
        let pid = c.tasks().start(c.request(req)).await?.into_inner().pid;
        debug!(container = %self.container_id, exec = %self.exec_id, pid, "exec started");
        Ok(pid)
    }

    pub(super) async fn wait(&self) -> Result<u32, RuntimeError> {
        let c = self.runtime.client();
        let req = WaitRequest {
            container_id: self.container_id.clone(),
            exec_id: self.exec_id.clone(),
        };
        let resp = c.tasks().wait(c.request(req)).await?;
        Ok(resp.into_inner().exit_status)
    }

    pub(super) async fn kill(&self) -> Result<(), RuntimeError> {
        let c = self.runtime.client();
        let req = KillRequest {
            container_id: self.container_id.clone(),
            exec_id: self.exec_id.clone(),
            signal: libc::SIGKILL as u32,
            all: false,
        };
        match c.tasks().kill(c.request(req)).await {
            // Already exited: nothing to kill.
            Err(s) if s.code() != Code::NotFound => Err(s.into()),
            _ => Ok(()),
        }
    }

    pub(super) async fn delete(&self) -> Result<(), RuntimeError> {
        let c = self.runtime.client();
        let req = DeleteProcessRequest {
            container_id: self.container_id.clone(),
            exec_id: self.exec_id.clone(),
        };
        match c.tasks().delete_process(c.request(req)).await {
            Err(s) if s.code() != Code::NotFound => Err(s.into()),
            _ => Ok(()),
        }
    }
}

/// An exec process this call owns: deleted on drop if the caller did not get that far,
/// so a cancelled probe leaves nothing behind in the container.
struct ExecProcess {
    exec: ExecRef,
    deleted: bool,
}

impl ExecProcess {
    async fn create(
        runtime: &ContainerRuntime,
        container_id: &str,
        exec_id: &str,
        process: &Process,
        fifos: &Fifos,
    ) -> Result<Self, RuntimeError> {
        let stdio = ExecStdio {
            stdin: String::new(),
            stdout: fifos.path("stdout"),
            stderr: fifos.path("stderr"),
            terminal: false,
        };
        let exec = ExecRef::create(runtime, container_id, exec_id, process, stdio).await?;
        Ok(Self {
            exec,
            deleted: false,
        })
    }

    async fn delete(&mut self) -> Result<(), RuntimeError> {
        self.exec.delete().await?;
        self.deleted = true;
        Ok(())
    }
}

impl Drop for ExecProcess {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let exec = self.exec.clone();
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            warn!(container = %exec.container_id, exec = %exec.exec_id, "exec process left behind");
            return;
        };
        handle.spawn(async move {
            let _ = exec.kill().await;
            let _ = tokio::time::timeout(KILL_WAIT, exec.wait()).await;
            if let Err(error) = exec.delete().await {
                warn!(container = %exec.container_id, exec = %exec.exec_id, %error, "abandoned exec not deleted");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ids_are_unique_identifiers() {
        let (a, b) = (new_exec_id(), new_exec_id());
        assert_ne!(a, b);
        assert!(a.len() <= 76, "{a}");
        assert!(super::super::is_valid_id(&a), "{a}");
    }

    #[test]
    fn capture_is_capped() {
        let mut c = Capture::default();
        c.push(&[b'a'; 8 * 1024]);
        c.push(&[b'b'; 8 * 1024]);
        assert_eq!(c.output.len(), MAX_EXEC_OUTPUT);
        assert_eq!(c.output[MAX_EXEC_OUTPUT - 1], b'b');
    }

    #[tokio::test]
    async fn fifos_capture_and_clean_up() {
        let mut fifos = Fifos::create(&new_exec_id()).unwrap();
        let dir = fifos.dir.clone();
        let write = |name: &str, text: &[u8]| {
            use std::io::Write;
            let mut tx = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join(name))
                .unwrap();
            tx.write_all(text).unwrap();
        };
        write("stdout", b"out\n");
        let mut capture = Capture::default();
        let _ = tokio::time::timeout(Duration::from_millis(50), capture.follow(&mut fifos)).await;
        assert_eq!(capture.output, b"out\n");
        // What arrives after the last read is picked up without waiting for the reactor.
        write("stderr", b"err\n");
        capture.drain(&fifos);
        assert_eq!(capture.output, b"out\nerr\n");
        drop(fifos);
        assert!(!dir.exists());
    }
}
