//! The privileged calls a sandbox needs, behind a trait so unit tests run without root
//! (the same split as youki's `Syscall` trait).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// Namespace and mount operations. `unshare`, `set_hostname` and `loopback_up` act on the
/// calling thread's namespaces, so callers run them on a thread dedicated to one sandbox.
pub trait NamespaceOps: Send + Sync + 'static {
    /// Moves the calling thread into new namespaces.
    fn unshare(&self, flags: CloneFlags) -> io::Result<()>;
    /// Sets the hostname of the calling thread's UTS namespace.
    fn set_hostname(&self, name: &str) -> io::Result<()>;
    /// Brings `lo` up in the calling thread's network namespace.
    fn loopback_up(&self) -> io::Result<()>;
    /// mount(2) without filesystem type or data: binds and propagation changes.
    fn mount(&self, source: Option<&Path>, target: &Path, flags: MsFlags) -> io::Result<()>;
    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()>;
    /// True when `path` is a bind mount of a namespace file (nsfs).
    fn is_ns_mount(&self, path: &Path) -> bool;
    /// True when `dir` is itself a mount point in this mount namespace.
    fn is_mount_point(&self, dir: &Path) -> io::Result<bool>;
    /// The calling thread's namespace file of `kind` (`net`, `uts`, `ipc`).
    fn thread_ns_path(&self, kind: &str) -> PathBuf;
    /// Removes the empty cgroup `path` (relative to the hierarchy roots) from every
    /// mounted cgroup hierarchy, v1 and v2; missing directories are fine.
    fn remove_cgroup(&self, path: &Path) -> io::Result<()>;
}

/// The real thing: syscalls on the host.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostOps;

impl NamespaceOps for HostOps {
    fn unshare(&self, flags: CloneFlags) -> io::Result<()> {
        nix::sched::unshare(flags).map_err(io::Error::from)
    }

    fn set_hostname(&self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(io::Error::from)
    }

    fn loopback_up(&self) -> io::Result<()> {
        set_link_up(b"lo")
    }

    fn mount(&self, source: Option<&Path>, target: &Path, flags: MsFlags) -> io::Result<()> {
        nix::mount::mount(source, target, None::<&str>, flags, None::<&str>)
            .map_err(io::Error::from)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()> {
        nix::mount::umount2(target, flags).map_err(io::Error::from)
    }

    fn is_ns_mount(&self, path: &Path) -> bool {
        nix::sys::statfs::statfs(path)
            .map(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
            .unwrap_or(false)
    }

    fn is_mount_point(&self, dir: &Path) -> io::Result<bool> {
        let dir = std::fs::canonicalize(dir)?;
        let table = std::fs::read_to_string("/proc/self/mountinfo")?;
        let found = mount_points(&table).any(|p| p == dir);
        Ok(found)
    }

    fn thread_ns_path(&self, kind: &str) -> PathBuf {
        PathBuf::from(format!("/proc/thread-self/ns/{kind}"))
    }

    fn remove_cgroup(&self, path: &Path) -> io::Result<()> {
        let relative = path.strip_prefix("/").unwrap_or(path);
        let table = std::fs::read_to_string("/proc/self/mountinfo")?;
        let mut first_error = None;
        for root in cgroup_roots(&table) {
            match std::fs::remove_dir(root.join(relative)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    first_error.get_or_insert(e);
                }
                _ => {}
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// SIOCGIFFLAGS/SIOCSIFFLAGS on a socket opened in the calling thread's network namespace;
/// avoids a netlink dependency for a single flag.
fn set_link_up(name: &[u8]) -> io::Result<()> {
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name",
        ));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq for these two requests and outlives the calls.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Mount points from a mountinfo table, with the octal escapes (`\040`) decoded.
pub(crate) fn mount_points(table: &str) -> impl Iterator<Item = PathBuf> + '_ {
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
}

/// Mount points of cgroup v1 hierarchies and of the v2 unified hierarchy.
fn cgroup_roots(table: &str) -> Vec<PathBuf> {
    table
        .lines()
        .filter_map(|line| {
            let (fields, fs) = line.split_once(" - ")?;
            let fstype = fs.split(' ').next()?;
            let point = fields.split(' ').nth(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then(|| PathBuf::from(unescape_mountinfo(point)))
        })
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(oct, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_points_are_unescaped() {
        let table = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                     90 27 0:50 / /var/lib/my\\040dir rw - tmpfs tmpfs rw\n";
        let points: Vec<_> = mount_points(table).collect();
        assert_eq!(
            points,
            vec![PathBuf::from("/proc"), PathBuf::from("/var/lib/my dir")]
        );
    }

    #[test]
    fn cgroup_roots_v1_and_v2() {
        let table = "30 25 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n\
                     31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                     33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        assert_eq!(
            cgroup_roots(table),
            vec![
                PathBuf::from("/sys/fs/cgroup/unified"),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
            ]
        );
    }
}
