//! The stdio of containers whose spec asks for `stdin` or `tty`, so `kubectl attach` and
//! `kubectl run -it` reach their main process.
//!
//! Beside the attempt's log (`<attempt>.log`) such a container gets FIFOs:
//! - `<attempt>.stdin` (stdin: true): the shim reads it into the process; the agent keeps
//!   the one write end open for the container's life (an attach writes through it), and
//!   dropping it is the end of stdin (`stdinOnce` after the first attach, or an agent
//!   restart, after which the process sees end of file as a kubelet restart would not).
//! - `<attempt>.tty` (tty: true): the shim copies a terminal only to a FIFO (its console
//!   copy knows no `file://`), so the agent copies that FIFO into the log file; while the
//!   agent is down the output waits in the pipe and is copied when it adopts the
//!   container again.
//!
//! Without either the task writes its log through `file://` as before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tracing::{debug, warn};

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
}

/// A container's stdin, shared by the attaches that write to it.
pub type StdinWriter = Arc<tokio::sync::Mutex<pipe::Sender>>;

/// The agent's ends of interactive containers' FIFOs, by containerd id; one per agent,
/// shared by the pod runtime (which creates them) and the API (which attaches).
#[derive(Clone, Default)]
pub struct InteractiveIo {
    stdin: Arc<Mutex<HashMap<String, StdinWriter>>>,
    /// Containers whose terminal output is being copied to their log.
    copying: Arc<Mutex<HashMap<String, ()>>>,
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

    /// Makes the terminal FIFO of `id` and opens a read end that keeps the shim's open
    /// from blocking until [`InteractiveIo::copy_tty`] takes over.
    pub fn open_tty(&self, io: &TaskIo) -> Result<(PathBuf, pipe::Receiver), RuntimeError> {
        let path = io.tty_fifo();
        make_fifo(&path)?;
        let rx = pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&path)
            .map_err(|e| RuntimeError::io(format!("open {}", path.display()), e))?;
        Ok((path, rx))
    }

    /// Copies the terminal of `id` into its log until the shim closes it (the process
    /// ended); a second call for the same container does nothing.
    pub fn copy_tty(&self, id: &str, io: &TaskIo) -> Result<(), RuntimeError> {
        if self.lock_copying().insert(id.to_string(), ()).is_some() {
            return Ok(());
        }
        let path = io.tty_fifo();
        // Read-only: end of file once the shim's write end closes.
        let rx = match pipe::OpenOptions::new().open_receiver(&path) {
            Ok(rx) => rx,
            Err(e) => {
                self.lock_copying().remove(id);
                return Err(RuntimeError::io(format!("open {}", path.display()), e));
            }
        };
        let (log, id, copying) = (io.log.clone(), id.to_string(), self.copying.clone());
        tokio::spawn(async move {
            if let Err(error) = copy(rx, &log).await {
                warn!(container = %id, %error, "terminal output not copied to the log");
            }
            debug!(container = %id, "terminal closed");
            copying.lock().expect("copying").remove(&id);
        });
        Ok(())
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

    fn lock_copying(&self) -> std::sync::MutexGuard<'_, HashMap<String, ()>> {
        self.copying.lock().expect("tty copies")
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

async fn copy(mut rx: pipe::Receiver, log: &Path) -> std::io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .await?;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = rx.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        file.write_all(&buf[..n]).await?;
    }
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
    async fn terminal_output_reaches_the_log_and_stdin_is_held_until_closed() {
        let dir = tempfile::tempdir().unwrap();
        let io = TaskIo {
            log: dir.path().join("c").join("0.log"),
            stdin: true,
            tty: true,
        };
        let points = InteractiveIo::default();
        let (path, keep) = points.open_tty(&io).unwrap();
        assert_eq!(path, dir.path().join("c/0.tty"));
        // The shim's write end, played by the test.
        let mut shim = pipe::OpenOptions::new().open_sender(&path).unwrap();
        points.copy_tty("id", &io).unwrap();
        drop(keep);
        shim.write_all(b"hello\r\n").await.unwrap();
        drop(shim);
        for _ in 0..100 {
            if points.lock_copying().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(std::fs::read(&io.log).unwrap(), b"hello\r\n");

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
