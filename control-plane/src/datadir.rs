//! One control plane per data dir: an exclusive `flock` on `<data-dir>/lock`, held for
//! the life of the process. Two servers on one SQLite store would each believe they own
//! the allocators and the revision counter; the second one refuses to start instead.
//! The kernel drops the lock when the process dies, `kill -9` included, so a crash never
//! leaves a stale lock behind.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another skiff-control-plane{holder} is using the data dir {dir}: stop it first, or give this one another --data-dir"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The held lock; released on drop (or when the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    _lock: Flock<File>,
}

impl DataDirLock {
    /// Takes the lock on `dir` (which must exist) without waiting, and writes this
    /// process's pid into the lock file for the next one's error message.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let path = dir.join("lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let holder = if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                };
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err((_, errno)) => return Err(io(errno.into())),
        };
        lock.set_len(0).map_err(io)?;
        lock.rewind().map_err(io)?;
        writeln!(lock, "{}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("(pid {})", std::process::id()))
                && message.contains("another skiff-control-plane"),
            "{message}"
        );
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
