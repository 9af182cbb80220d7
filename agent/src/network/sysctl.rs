//! The kernel switches pods need: IPv4 forwarding for egress, and bridge netfilter so
//! packets between pods on the bridge pass the `ip` family hooks (the service proxy's
//! DNAT must see pod-to-service traffic that the bridge would otherwise switch past it).

use std::io;
use std::path::PathBuf;

use tokio::process::Command;
use tracing::{info, warn};

use super::error::{io_err, NetworkError};

/// `/proc/sys` (tests point it at a temporary directory).
#[derive(Debug, Clone)]
pub struct Sysctl {
    root: PathBuf,
}

impl Default for Sysctl {
    fn default() -> Self {
        Sysctl {
            root: PathBuf::from("/proc/sys"),
        }
    }
}

impl Sysctl {
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Sysctl { root: root.into() }
    }

    /// `net.ipv4.ip_forward=1`, then bridge netfilter: loads `br_netfilter` when
    /// `net/bridge` is missing and sets `bridge-nf-call-iptables=1`. Forwarding is
    /// required; bridge netfilter only warns, since pods still reach each other and the
    /// outside without it.
    pub async fn enable_forwarding(&self) -> Result<(), NetworkError> {
        self.set("net/ipv4/ip_forward", "1").await?;
        if !self.root.join("net/bridge").exists() {
            match Command::new("modprobe").arg("br_netfilter").output().await {
                Ok(out) if out.status.success() => info!("br_netfilter loaded"),
                Ok(out) => warn!(
                    status = %out.status,
                    stderr = %String::from_utf8_lossy(&out.stderr).trim(),
                    "modprobe br_netfilter failed"
                ),
                Err(e) => warn!(error = %e, "modprobe br_netfilter failed"),
            }
        }
        let key = "net/bridge/bridge-nf-call-iptables";
        if self.root.join(key).exists() {
            self.set(key, "1").await?;
        } else {
            warn!("bridge netfilter unavailable: service traffic between pods of this node bypasses the proxy");
        }
        Ok(())
    }

    /// Writes `value` unless it is already there, so a read-only `/proc/sys` that is
    /// already right is no error.
    pub async fn set(&self, key: &str, value: &str) -> Result<(), NetworkError> {
        let path = self.root.join(key);
        match tokio::fs::read_to_string(&path).await {
            Ok(current) if current.trim() == value => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(io_err(format!("sysctl {}", path.display()))(e))
            }
            Err(_) => {}
        }
        tokio::fs::write(&path, value)
            .await
            .map_err(io_err(format!("set {} to {value}", path.display())))?;
        info!(sysctl = %key.replace('/', "."), value, "sysctl set");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_sys(bridge: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net/ipv4")).unwrap();
        std::fs::write(dir.path().join("net/ipv4/ip_forward"), "0\n").unwrap();
        if bridge {
            std::fs::create_dir_all(dir.path().join("net/bridge")).unwrap();
            std::fs::write(dir.path().join("net/bridge/bridge-nf-call-iptables"), "0\n").unwrap();
        }
        dir
    }

    fn read(dir: &tempfile::TempDir, key: &str) -> String {
        std::fs::read_to_string(dir.path().join(key)).unwrap()
    }

    #[tokio::test]
    async fn sets_forwarding_and_bridge_netfilter() {
        let dir = proc_sys(true);
        Sysctl::at(dir.path()).enable_forwarding().await.unwrap();
        assert_eq!(read(&dir, "net/ipv4/ip_forward"), "1");
        assert_eq!(read(&dir, "net/bridge/bridge-nf-call-iptables"), "1");
    }

    #[tokio::test]
    async fn missing_ip_forward_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Sysctl::at(dir.path()).set("net/ipv4/ip_forward", "1").await;
        assert!(matches!(err, Err(NetworkError::Io { .. })));
    }

    #[tokio::test]
    async fn a_value_already_set_is_not_rewritten() {
        let dir = proc_sys(false);
        let path = dir.path().join("net/ipv4/ip_forward");
        std::fs::write(&path, "1\n").unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms).unwrap();
        Sysctl::at(dir.path())
            .set("net/ipv4/ip_forward", "1")
            .await
            .unwrap();
        assert_eq!(read(&dir, "net/ipv4/ip_forward"), "1\n");
    }
}
