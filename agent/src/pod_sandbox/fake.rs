//! A recording [`NamespaceOps`] for tests: remembers every call and simulates just enough
//! mount state (which paths are namespace binds, which dirs are mount points) for the
//! sandbox logic to take the same branches it takes on a real host.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::ops::NamespaceOps;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Unshare(CloneFlags),
    SetHostname(String),
    LoopbackUp,
    Mount {
        source: Option<PathBuf>,
        target: PathBuf,
        flags: MsFlags,
    },
    Umount(PathBuf, MntFlags),
    RemoveCgroup(PathBuf),
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    ns_mounts: HashSet<PathBuf>,
    mount_points: HashSet<PathBuf>,
    fail: Option<&'static str>,
}

#[derive(Default)]
pub struct RecordingOps {
    state: Mutex<State>,
}

impl RecordingOps {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn clear(&self) {
        self.lock().calls.clear();
    }

    /// Makes the named operation (`unshare`, `set_hostname`, `loopback_up`, `mount`,
    /// `umount`, `remove_cgroup`) fail with EPERM until cleared with `None`.
    pub fn fail_on(&self, op: Option<&'static str>) {
        self.lock().fail = op;
    }

    /// Paths currently bind-mounted from a namespace file.
    pub fn ns_mounts(&self) -> HashSet<PathBuf> {
        self.lock().ns_mounts.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, op: &'static str, call: Call) -> io::Result<std::sync::MutexGuard<'_, State>> {
        let mut state = self.lock();
        state.calls.push(call);
        if state.fail == Some(op) {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(state)
    }
}

impl NamespaceOps for RecordingOps {
    fn unshare(&self, flags: CloneFlags) -> io::Result<()> {
        self.record("unshare", Call::Unshare(flags)).map(drop)
    }

    fn set_hostname(&self, name: &str) -> io::Result<()> {
        self.record("set_hostname", Call::SetHostname(name.to_string()))
            .map(drop)
    }

    fn loopback_up(&self) -> io::Result<()> {
        self.record("loopback_up", Call::LoopbackUp).map(drop)
    }

    fn mount(&self, source: Option<&Path>, target: &Path, flags: MsFlags) -> io::Result<()> {
        let call = Call::Mount {
            source: source.map(Path::to_path_buf),
            target: target.to_path_buf(),
            flags,
        };
        let mut state = self.record("mount", call)?;
        if flags.contains(MsFlags::MS_BIND) {
            match source {
                Some(s) if s.starts_with("/proc") => {
                    state.ns_mounts.insert(target.to_path_buf());
                }
                _ => {
                    state.mount_points.insert(target.to_path_buf());
                }
            }
        }
        Ok(())
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()> {
        let mut state = self.record("umount", Call::Umount(target.to_path_buf(), flags))?;
        let was_ns = state.ns_mounts.remove(target);
        let was_dir = state.mount_points.remove(target);
        if was_ns || was_dir {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        }
    }

    fn is_ns_mount(&self, path: &Path) -> bool {
        self.lock().ns_mounts.contains(path)
    }

    fn is_mount_point(&self, dir: &Path) -> io::Result<bool> {
        Ok(self.lock().mount_points.contains(dir))
    }

    fn thread_ns_path(&self, kind: &str) -> PathBuf {
        PathBuf::from(format!("/proc/thread-self/ns/{kind}"))
    }

    fn remove_cgroup(&self, path: &Path) -> io::Result<()> {
        self.record("remove_cgroup", Call::RemoveCgroup(path.to_path_buf()))
            .map(drop)
    }
}
