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

/// This server's identity among several on one store (`holderIdentity` of the leader
/// Lease, the name of its identity lease): `<data-dir>/server-id`, made on first start
/// (the hostname and 8 random hex digits) and kept, so a restarted server takes its own
/// lease back at once. Unique per data dir, and the lock above keeps one process per dir.
pub fn server_id(dir: &Path) -> Result<String, LockError> {
    let path = dir.join("server-id");
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let suffix = format!("{:08x}", rand::random::<u32>());
    let id = match host.trim_matches('-') {
        "" => suffix,
        host => format!("{host}-{suffix}"),
    };
    let tmp = dir.join(".server-id.tmp");
    std::fs::write(&tmp, format!("{id}\n")).map_err(io)?;
    File::open(&tmp).and_then(|f| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(id)
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

    #[test]
    fn the_server_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let id = server_id(dir.path()).unwrap();
        assert!(
            skiff_proto::model::is_dns1123_subdomain(&format!("skiff-apiserver-{id}")),
            "{id}"
        );
        assert_eq!(server_id(dir.path()).unwrap(), id);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(server_id(other.path()).unwrap(), id);
    }
}
