//! The stdio of containers whose spec asks for `stdin` or `tty`, so `kubectl attach` and
//! `kubectl run -it` reach their main process.
//!
//! Beside the attempt's log (`<attempt>.log`) such a container gets FIFOs:
//! - `<attempt>.stdin` (stdin: true): the shim reads it into the process; the agent keeps
//!   the one write end open for the container's life (an attach writes through it), and
//!   dropping it is the end of stdin (`stdinOnce` after the first attach, or an agent
//!   restart, after which the process sees end of file as a kubelet restart would not).
//! - `<attempt>.tty` (tty: true): the terminal, which the log copier reads in place of
//!   the `<attempt>.stdout` and `<attempt>.stderr` FIFOs of other containers
//!   (`container_logs::copier`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::net::unix::pipe;
use tracing::debug;

use crate::container_logs::Source;
use crate::containerd::RuntimeError;

/// What a container's task is wired to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskIo {
    pub log: PathBuf,
    pub stdin: bool,
    pub tty: bool,
}

impl TaskIo {
    /// A task whose output only goes to its log.
    pub fn log_only(log: &Path) -> Self {
        Self {
            log: log.to_path_buf(),
            stdin: false,
            tty: false,
        }
    }

    pub fn stdin_fifo(&self) -> PathBuf {
        self.log.with_extension("stdin")
    }

    pub fn tty_fifo(&self) -> PathBuf {
        self.log.with_extension("tty")
    }

    /// The FIFOs the task's output goes to, for the log copier.
    pub fn log_source(&self) -> Source {
        if self.tty {
            return Source::Terminal(self.tty_fifo());
        }
        Source::Pair {
            stdout: self.log.with_extension("stdout"),
            stderr: self.log.with_extension("stderr"),
        }
    }
}

/// A container's stdin, shared by the attaches that write to it.
pub type StdinWriter = Arc<tokio::sync::Mutex<pipe::Sender>>;

/// The agent's ends of interactive containers' FIFOs, by containerd id; one per agent,
/// shared by the pod runtime (which creates them) and the API (which attaches).
#[derive(Clone, Default)]
pub struct InteractiveIo {
    stdin: Arc<Mutex<HashMap<String, StdinWriter>>>,
}

impl InteractiveIo {
    /// Makes the stdin FIFO of `id` and opens its write end (read-write, so opening does
    /// not wait for the shim).
    pub fn open_stdin(&self, id: &str, io: &TaskIo) -> Result<PathBuf, RuntimeError> {
        let path = io.stdin_fifo();
        make_fifo(&path)?;
        let tx = pipe::OpenOptions::new()
            .read_write(true)
            .open_sender(&path)
            .map_err(|e| RuntimeError::io(format!("open {}", path.display()), e))?;
        self.lock_stdin()
            .insert(id.to_string(), Arc::new(tokio::sync::Mutex::new(tx)));
        Ok(path)
    }

    /// The stdin of running container `id`, when it was created with one.
    pub fn stdin(&self, id: &str) -> Option<StdinWriter> {
        self.lock_stdin().get(id).cloned()
    }

    /// Ends the stdin of `id`: the process reads end of file once no attach holds it.
    pub fn close_stdin(&self, id: &str) {
        self.lock_stdin().remove(id);
    }

    /// Forgets a removed container.
    pub fn forget(&self, id: &str) {
        self.close_stdin(id);
    }

    fn lock_stdin(&self) -> std::sync::MutexGuard<'_, HashMap<String, StdinWriter>> {
        self.stdin.lock().expect("stdin writers")
    }
}

impl super::ContainerRuntime {
    /// Resizes the terminal of container `id`'s main process.
    pub async fn resize_terminal(&self, id: &str, width: u32, height: u32) {
        use containerd_client::services::v1::ResizePtyRequest;
        let c = self.client();
        let req = ResizePtyRequest {
            container_id: id.into(),
            exec_id: String::new(),
            width,
            height,
        };
        if let Err(error) = c.tasks().resize_pty(c.request(req)).await {
            debug!(container = %id, %error, "terminal resize refused");
        }
    }
}

/// Makes the FIFO at `path` and opens a read end that keeps the shim's open of its write
/// end from blocking until the log copier has opened its own.
pub(super) fn hold_fifo(path: &Path) -> Result<pipe::Receiver, RuntimeError> {
    make_fifo(path)?;
    pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
        .map_err(|e| RuntimeError::io(format!("open {}", path.display()), e))
}

/// A FIFO at `path`; one left by an earlier try of the same attempt is reused.
fn make_fifo(path: &Path) -> Result<(), RuntimeError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| RuntimeError::io(format!("create {}", dir.display()), e))?;
    }
    match nix::unistd::mkfifo(
        path,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    ) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(RuntimeError::io(
            format!("mkfifo {}", path.display()),
            e.into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stdin_is_held_until_closed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let io = TaskIo {
            log: dir.path().join("c").join("0.log"),
            stdin: true,
            tty: true,
        };
        assert_eq!(
            io.log_source(),
            Source::Terminal(dir.path().join("c/0.tty"))
        );
        let points = InteractiveIo::default();
        let stdin = points.open_stdin("id", &io).unwrap();
        let mut shim_in = pipe::OpenOptions::new().open_receiver(&stdin).unwrap();
        let writer = points.stdin("id").unwrap();
        writer.lock().await.write_all(b"ls\n").await.unwrap();
        let mut got = [0u8; 3];
        shim_in.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ls\n");
        points.close_stdin("id");
        drop(writer);
        assert!(points.stdin("id").is_none());
        let mut rest = Vec::new();
        shim_in.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "end of file once the agent lets go");
    }
}
