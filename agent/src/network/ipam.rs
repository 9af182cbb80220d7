//! Pod addresses, persisted like CNI's host-local IPAM so a crash never hands one address
//! to two pods: one file per allocated address under `<state>/ipam/<cidr>/`, named by the
//! address and holding the pod uid. A claim is `O_CREAT|O_EXCL` (atomic even against
//! another process), then the file and the directory are fsync'd before the address is
//! handed out (`PodNetwork` runs those fsyncs alongside the veth creation, see
//! [`Ipam::claim`]); a release is an unlink and a directory fsync. `last_reserved` remembers
//! where the round-robin stopped, so a just-released address (whose old pod may still be
//! in peers' ARP and conntrack tables) is not reused at once; it is only a hint.
//!
//! The network address, the gateway (first host) and the broadcast address are never
//! handed out. Lookups by uid use an in-memory map built by one directory scan at open.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ipnet::Ipv4Net;
use tracing::{debug, warn};

use super::error::{io_err, NetworkError};

const LAST_RESERVED: &str = "last_reserved";

/// An address taken by a pod, as found on disk (`uid` is empty for a file a crash left
/// before its owner was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub ip: Ipv4Addr,
    pub uid: String,
}

pub struct Ipam {
    cidr: Ipv4Net,
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    by_uid: HashMap<String, Ipv4Addr>,
    last: Option<Ipv4Addr>,
}

impl Ipam {
    /// Opens (creating) the allocation directory of `cidr` under `state_dir`.
    pub fn open(state_dir: &Path, cidr: Ipv4Net) -> Result<Self, NetworkError> {
        let cidr = cidr.trunc();
        let dir = state_dir
            .join("ipam")
            .join(cidr.to_string().replace('/', "-"));
        fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
        let ipam = Ipam {
            cidr,
            dir,
            state: Mutex::new(State::default()),
        };
        let mut by_uid: HashMap<String, Ipv4Addr> = HashMap::new();
        let mut allocations = ipam.scan()?;
        allocations.sort_by_key(|a| a.ip);
        for a in allocations.into_iter().filter(|a| !a.uid.is_empty()) {
            if let Some(kept) = by_uid.get(&a.uid) {
                // Only two processes sharing the directory could do this; keep one address.
                warn!(pod_uid = %a.uid, kept = %kept, released = %a.ip, "pod held two addresses");
                ipam.unlink(a.ip)?;
                continue;
            }
            by_uid.insert(a.uid, a.ip);
        }
        let last = fs::read_to_string(ipam.dir.join(LAST_RESERVED))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        *ipam.lock() = State { by_uid, last };
        Ok(ipam)
    }

    pub fn cidr(&self) -> Ipv4Net {
        self.cidr
    }

    /// The first host address, which the bridge holds.
    pub fn gateway(&self) -> Ipv4Addr {
        gateway_of(self.cidr)
    }

    /// The address of `uid`, claiming a free one if it has none, on disk for good (file
    /// and directory fsync'd) before it returns. `true` with a fresh claim.
    pub fn allocate(&self, uid: &str) -> Result<(Ipv4Addr, bool), NetworkError> {
        let (ip, fresh) = self.claim(uid)?;
        if fresh {
            if let Err(e) = self.sync(ip) {
                let _ = self.release(uid);
                return Err(e);
            }
        }
        Ok((ip, fresh))
    }

    /// [`allocate`](Self::allocate) without waiting for the disk: the claim is atomic,
    /// seen by every process at once and outlives an agent crash, but survives a power
    /// loss only after [`sync`](Self::sync). Lets a caller overlap the fsyncs with other
    /// work.
    pub fn claim(&self, uid: &str) -> Result<(Ipv4Addr, bool), NetworkError> {
        if uid.is_empty() || uid.contains(['\n', '\0']) {
            return Err(NetworkError::InvalidUid(uid.to_string()));
        }
        let mut state = self.lock();
        if let Some(ip) = state.by_uid.get(uid) {
            return Ok((*ip, false));
        }
        let (first, count) = usable_range(self.cidr);
        let start = match state.last {
            Some(last) if self.cidr.contains(&last) => {
                (u32::from(last).wrapping_sub(first).wrapping_add(1)) % count.max(1)
            }
            _ => 0,
        };
        for i in 0..count {
            let ip = Ipv4Addr::from(first + (start + i) % count);
            if self.claim_file(ip, uid)? {
                state.by_uid.insert(uid.to_string(), ip);
                state.last = Some(ip);
                self.write_last(ip);
                debug!(pod_uid = %uid, ip = %ip, "address claimed");
                return Ok((ip, true));
            }
        }
        Err(NetworkError::Exhausted { cidr: self.cidr })
    }

    /// Releases the address of `uid`; releasing twice is fine.
    pub fn release(&self, uid: &str) -> Result<Option<Ipv4Addr>, NetworkError> {
        let mut state = self.lock();
        let Some(ip) = state.by_uid.get(uid).copied() else {
            return Ok(None);
        };
        self.unlink(ip)?;
        state.by_uid.remove(uid);
        debug!(pod_uid = %uid, ip = %ip, "address released");
        Ok(Some(ip))
    }

    /// Releases every address whose owner `keep` rejects, ownerless files included;
    /// reads the directory, not the cache, so nothing on disk escapes.
    pub fn release_unless(
        &self,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<Allocation>, NetworkError> {
        let mut state = self.lock();
        let mut released = Vec::new();
        for a in self.scan()? {
            if a.uid.is_empty() || !keep(&a.uid) {
                self.unlink(a.ip)?;
                if state.by_uid.get(&a.uid) == Some(&a.ip) {
                    state.by_uid.remove(&a.uid);
                }
                released.push(a);
            }
        }
        released.sort_by_key(|a| a.ip);
        Ok(released)
    }

    pub fn lookup(&self, uid: &str) -> Option<Ipv4Addr> {
        self.lock().by_uid.get(uid).copied()
    }

    /// Every allocation on disk.
    pub fn allocations(&self) -> Result<Vec<Allocation>, NetworkError> {
        let _state = self.lock();
        let mut all = self.scan()?;
        all.sort_by_key(|a| a.ip);
        Ok(all)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the claim on `ip` durable: fsync of its file, then of the directory that
    /// names it.
    pub fn sync(&self, ip: Ipv4Addr) -> Result<(), NetworkError> {
        let path = self.dir.join(ip.to_string());
        File::open(&path)
            .and_then(|f| f.sync_all())
            .and_then(|()| sync_dir(&self.dir))
            .map_err(io_err(format!("sync {}", path.display())))
    }

    /// Atomically claims `ip` for `uid`; `false` when someone holds it already.
    fn claim_file(&self, ip: Ipv4Addr, uid: &str) -> Result<bool, NetworkError> {
        let path = self.dir.join(ip.to_string());
        let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(io_err(format!("create {}", path.display()))(e)),
        };
        if let Err(e) = file.write_all(uid.as_bytes()) {
            let _ = fs::remove_file(&path);
            return Err(io_err(format!("write {}", path.display()))(e));
        }
        Ok(true)
    }

    fn unlink(&self, ip: Ipv4Addr) -> Result<(), NetworkError> {
        let path = self.dir.join(ip.to_string());
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(format!("remove {}", path.display()))(e)),
        }
        sync_dir(&self.dir).map_err(io_err(format!("sync {}", self.dir.display())))
    }

    /// Best effort: the hint only spreads reuse, so a lost write costs nothing. Written
    /// through a rename so a crash never leaves a torn value.
    fn write_last(&self, ip: Ipv4Addr) {
        let tmp = self.dir.join(format!(".{LAST_RESERVED}.tmp"));
        let result = fs::write(&tmp, ip.to_string())
            .and_then(|()| fs::rename(&tmp, self.dir.join(LAST_RESERVED)));
        if let Err(e) = result {
            warn!(error = %e, "last reserved address not saved");
        }
    }

    fn scan(&self) -> Result<Vec<Allocation>, NetworkError> {
        let context = || format!("read {}", self.dir.display());
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(context()))? {
            let entry = entry.map_err(io_err(context()))?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let uid = match fs::read_to_string(entry.path()) {
                Ok(uid) => uid.trim().to_string(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(format!("read {}", entry.path().display()))(e)),
            };
            found.push(Allocation { ip, uid });
        }
        Ok(found)
    }
}

/// The first host address of `cidr`.
pub fn gateway_of(cidr: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cidr.network()).wrapping_add(1))
}

/// First allocatable address (as u32) and how many there are: the hosts after the
/// gateway, before the broadcast address.
fn usable_range(cidr: Ipv4Net) -> (u32, u32) {
    let network = u32::from(cidr.network());
    let broadcast = u32::from(cidr.broadcast());
    let first = network.saturating_add(2);
    (first, broadcast.saturating_sub(first))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
