//! An attached exec (`skiff exec [-i] [-t]`): stdin in, stdout and stderr out while the
//! process runs, terminal resizes, then the exit code.
//!
//! The shim does the I/O through FIFOs the agent creates, as for probes (`exec.rs`): with
//! a terminal (`terminal: true`) the shim makes the console and copies it to the stdout
//! FIFO (stderr is the same stream then), and the stdin FIFO into it; resizes go through
//! `ResizePty`. The end of the client's stdin closes the FIFO and asks the shim to close
//! the process's stdin (`CloseIO`). The process is killed when the client goes away, and
//! deleted in every case.

use std::path::PathBuf;

use containerd_client::services::v1::{CloseIoRequest, ResizePtyRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::exec::{fifo_dir, make_fifo, new_exec_id, open_fifo_receiver, ExecRef, ExecStdio};
use super::lifecycle::ContainerRuntime;
use crate::containerd::RuntimeError;

const READ_BUF: usize = 32 * 1024;

/// What to run and how it is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachSpec {
    pub command: Vec<String>,
    pub stdin: bool,
    pub tty: bool,
    /// Terminal width and height at start.
    pub size: Option<(u32, u32)>,
}

/// From the client to the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachInput {
    Stdin(Vec<u8>),
    Resize { width: u32, height: u32 },
    CloseStdin,
}

/// From the process to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachOutput {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// The FIFOs of one attached exec, removed on drop.
struct AttachFifos {
    dir: PathBuf,
    stdin: Option<pipe::Sender>,
    stdout: pipe::Receiver,
    stderr: Option<pipe::Receiver>,
}

impl AttachFifos {
    fn create(exec_id: &str, spec: &AttachSpec) -> Result<Self, RuntimeError> {
        let dir = fifo_dir(exec_id)?;
        let open = || -> Result<Self, RuntimeError> {
            let stdout = open_fifo_receiver(&dir, "stdout")?;
            let stderr = (!spec.tty)
                .then(|| open_fifo_receiver(&dir, "stderr"))
                .transpose()?;
            let stdin = if spec.stdin {
                let path = make_fifo(&dir, "stdin")?;
                // Read-write, so opening does not wait for the shim's read end.
                let tx = pipe::OpenOptions::new()
                    .read_write(true)
                    .open_sender(&path)
                    .map_err(|e| RuntimeError::io(format!("open {}", path.display()), e))?;
                Some(tx)
            } else {
                None
            };
            Ok(Self {
                dir: dir.clone(),
                stdin,
                stdout,
                stderr,
            })
        };
        open().inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&dir);
        })
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for AttachFifos {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            warn!(dir = %self.dir.display(), error = %e, "exec fifos not removed");
        }
    }
}

impl ContainerRuntime {
    /// Runs `spec` in the running container `container_id`, attached to `input` and
    /// `output`; returns the exit code. `input` ending without `CloseStdin` closes stdin
    /// too; `output` closing (the client left) kills the process.
    pub async fn exec_attached(
        &self,
        container_id: &str,
        spec: AttachSpec,
        mut input: mpsc::Receiver<AttachInput>,
        output: mpsc::Sender<AttachOutput>,
    ) -> Result<i32, RuntimeError> {
        if spec.command.is_empty() {
            return Err(RuntimeError::InvalidArgument("exec: empty command".into()));
        }
        let mut process = self.process_spec(container_id).await?;
        process.set_args(Some(spec.command.clone()));
        process.set_terminal(Some(spec.tty));
        let size = spec.size.filter(|_| spec.tty).and_then(|(width, height)| {
            oci_spec::runtime::BoxBuilder::default()
                .width(u64::from(width))
                .height(u64::from(height))
                .build()
                .ok()
        });
        process.set_console_size(size);
        let exec_id = new_exec_id();
        let mut fifos = AttachFifos::create(&exec_id, &spec)?;
        let stdio = ExecStdio {
            stdin: if spec.stdin {
                fifos.path("stdin")
            } else {
                String::new()
            },
            stdout: fifos.path("stdout"),
            stderr: if spec.tty {
                String::new()
            } else {
                fifos.path("stderr")
            },
            terminal: spec.tty,
        };
        let exec = ExecRef::create(self, container_id, &exec_id, &process, stdio).await?;
        let result = attach(&exec, &mut fifos, &mut input, &output).await;
        // The shim finishes copying output before DeleteProcess returns; keep reading so
        // a full pipe cannot block it.
        let deleted = {
            let delete = exec.delete();
            tokio::pin!(delete);
            loop {
                tokio::select! {
                    r = &mut delete => break r,
                    more = read_some(&mut fifos) => if let Some(chunk) = more {
                        let _ = output.send(chunk).await;
                    },
                }
            }
        };
        for chunk in drain(&fifos) {
            let _ = output.send(chunk).await;
        }
        if let Err(error) = &deleted {
            warn!(exec = %exec.exec_id, %error, "exec process not deleted");
        }
        result
    }
}

/// Starts the process and runs the session until it exits.
async fn attach(
    exec: &ExecRef,
    fifos: &mut AttachFifos,
    input: &mut mpsc::Receiver<AttachInput>,
    output: &mpsc::Sender<AttachOutput>,
) -> Result<i32, RuntimeError> {
    exec.start().await?;
    let wait = exec.wait();
    tokio::pin!(wait);
    let mut input_open = true;
    let mut killed = false;
    loop {
        tokio::select! {
            code = &mut wait => {
                let code = code?;
                debug!(exec = %exec.exec_id, code, "exec exited");
                return Ok(i32::try_from(code).unwrap_or(i32::MAX));
            }
            chunk = read_some(fifos) => {
                if let Some(chunk) = chunk {
                    if output.send(chunk).await.is_err() && !killed {
                        killed = true;
                        let _ = exec.kill().await;
                    }
                }
            }
            msg = input.recv(), if input_open => match msg {
                Some(AttachInput::Stdin(bytes)) => {
                    if let Some(tx) = fifos.stdin.as_mut() {
                        if let Err(error) = tx.write_all(&bytes).await {
                            debug!(%error, "exec stdin closed by the process");
                            close_stdin(exec, fifos).await;
                        }
                    }
                }
                Some(AttachInput::Resize { width, height }) => resize(exec, width, height).await,
                Some(AttachInput::CloseStdin) => close_stdin(exec, fifos).await,
                None => {
                    input_open = false;
                    close_stdin(exec, fifos).await;
                }
            },
            _ = output.closed(), if !killed => {
                debug!(exec = %exec.exec_id, "exec client gone: killing the process");
                killed = true;
                let _ = exec.kill().await;
            }
        }
    }
}

/// The next chunk from stdout or stderr; pends forever once both fail.
async fn read_some(fifos: &mut AttachFifos) -> Option<AttachOutput> {
    let mut out_buf = vec![0u8; READ_BUF];
    let mut err_buf = vec![0u8; READ_BUF];
    let AttachFifos { stdout, stderr, .. } = fifos;
    let stderr_read = async {
        match stderr.as_mut() {
            Some(rx) => rx.read(&mut err_buf).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = stdout.read(&mut out_buf) => match r {
            Ok(n) if n > 0 => Some(AttachOutput::Stdout(out_buf[..n].to_vec())),
            _ => std::future::pending().await,
        },
        r = stderr_read => match r {
            Ok(n) if n > 0 => Some(AttachOutput::Stderr(err_buf[..n].to_vec())),
            _ => std::future::pending().await,
        },
    }
}

/// What is still buffered in the FIFOs, read without waiting (the reactor may not have
/// seen the last writes).
fn drain(fifos: &AttachFifos) -> Vec<AttachOutput> {
    use std::os::fd::AsFd;
    let mut out = Vec::new();
    let mut buf = vec![0u8; READ_BUF];
    let streams = [(Some(&fifos.stdout), true), (fifos.stderr.as_ref(), false)];
    for (rx, is_stdout) in streams {
        let Some(rx) = rx else { continue };
        while let Ok(n @ 1..) = nix::unistd::read(rx.as_fd(), &mut buf) {
            let bytes = buf[..n].to_vec();
            out.push(if is_stdout {
                AttachOutput::Stdout(bytes)
            } else {
                AttachOutput::Stderr(bytes)
            });
        }
    }
    out
}

async fn resize(exec: &ExecRef, width: u32, height: u32) {
    let c = exec.runtime.client();
    let req = ResizePtyRequest {
        container_id: exec.container_id.clone(),
        exec_id: exec.exec_id.clone(),
        width,
        height,
    };
    if let Err(error) = c.tasks().resize_pty(c.request(req)).await {
        debug!(exec = %exec.exec_id, %error, "terminal resize refused");
    }
}

/// Closes our end of the stdin FIFO and has the shim close the process's stdin.
async fn close_stdin(exec: &ExecRef, fifos: &mut AttachFifos) {
    if fifos.stdin.take().is_none() {
        return;
    }
    let c = exec.runtime.client();
    let req = CloseIoRequest {
        container_id: exec.container_id.clone(),
        exec_id: exec.exec_id.clone(),
        stdin: true,
    };
    if let Err(error) = c.tasks().close_io(c.request(req)).await {
        debug!(exec = %exec.exec_id, %error, "closing the exec's stdin failed");
    }
}
