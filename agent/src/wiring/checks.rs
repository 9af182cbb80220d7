//! Start-up checks for what a Raspberry Pi (or any small board's kernel) commonly lacks,
//! each refused with the fix in the message rather than failing later in a pod. The
//! facts are read under `proc` and `sys` roots, so tests feed fake trees.

use std::path::PathBuf;
use std::process::Command;

use tracing::info;

/// Where the facts are read, and whether a missing module may be loaded.
#[derive(Debug, Clone)]
pub struct HostPaths {
    pub proc: PathBuf,
    pub sys: PathBuf,
    /// Try `modprobe` before refusing (the real host); tests never load modules.
    pub modprobe: bool,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            proc: "/proc".into(),
            sys: "/sys".into(),
            modprobe: true,
        }
    }
}

pub const MEMORY_CGROUP_FIX: &str = "the memory cgroup is disabled: add `cgroup_memory=1 cgroup_enable=memory` to /boot/firmware/cmdline.txt (or /boot/cmdline.txt) and reboot";

/// Every check; the first failure's message (with its fix) is the error.
pub fn run(paths: &HostPaths, vxlan: bool) -> Result<(), String> {
    memory_cgroup(paths)?;
    br_netfilter(paths)?;
    if vxlan {
        vxlan_support(paths)?;
    }
    Ok(())
}

/// cgroup v2: `memory` among the root's controllers; v1 (and hybrid): `memory` enabled
/// in /proc/cgroups.
pub fn memory_cgroup(paths: &HostPaths) -> Result<(), String> {
    let v2 = paths.sys.join("fs/cgroup/cgroup.controllers");
    let enabled = match std::fs::read_to_string(&v2) {
        Ok(controllers) => controllers.split_whitespace().any(|c| c == "memory"),
        Err(_) => {
            let table = std::fs::read_to_string(paths.proc.join("cgroups")).unwrap_or_default();
            table.lines().any(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                cols.first() == Some(&"memory") && cols.get(3) == Some(&"1")
            })
        }
    };
    if enabled {
        Ok(())
    } else {
        Err(MEMORY_CGROUP_FIX.into())
    }
}

/// Bridge netfilter: pod-to-service traffic between pods of one node must pass the
/// service proxy's rules.
pub fn br_netfilter(paths: &HostPaths) -> Result<(), String> {
    let present = |p: &HostPaths| {
        p.proc
            .join("sys/net/bridge/bridge-nf-call-iptables")
            .exists()
    };
    if present(paths) || (load(paths, "br_netfilter") && present(paths)) {
        return Ok(());
    }
    Err("br_netfilter is not available: run `modprobe br_netfilter` and list it in /etc/modules-load.d/skiff.conf; if modprobe cannot find it, install the modules of the running kernel (uname -r) and reboot".into())
}

/// The vxlan module (or a kernel with it built in).
pub fn vxlan_support(paths: &HostPaths) -> Result<(), String> {
    let present = |p: &HostPaths| p.sys.join("module/vxlan").exists();
    if present(paths) || (load(paths, "vxlan") && present(paths)) {
        return Ok(());
    }
    Err("this kernel has no vxlan support: run `modprobe vxlan`; if modprobe cannot find it, install the modules of the running kernel (uname -r) and reboot, or start every agent with `--pod-network host-gw` when all nodes share one network".into())
}

fn load(paths: &HostPaths, module: &str) -> bool {
    if !paths.modprobe {
        return false;
    }
    let ok = Command::new("modprobe")
        .arg(module)
        .output()
        .is_ok_and(|out| out.status.success());
    if ok {
        info!(module, "kernel module loaded");
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> (tempfile::TempDir, HostPaths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            proc: dir.path().join("proc"),
            sys: dir.path().join("sys"),
            modprobe: false,
        };
        std::fs::create_dir_all(&paths.proc).unwrap();
        std::fs::create_dir_all(paths.sys.join("fs/cgroup")).unwrap();
        (dir, paths)
    }

    fn write(path: PathBuf, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const CGROUPS_V1: &str = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
        cpuset\t2\t1\t1\nmemory\t0\t1\t0\npids\t3\t5\t1\n";

    #[test]
    fn a_disabled_memory_cgroup_is_refused_with_the_cmdline_fix() {
        let (_dir, paths) = fake();
        // v1 (a Pi before the cmdline fix): memory listed but not enabled.
        write(paths.proc.join("cgroups"), CGROUPS_V1);
        let err = memory_cgroup(&paths).unwrap_err();
        assert!(
            err.contains("cgroup_memory=1 cgroup_enable=memory"),
            "{err}"
        );
        assert!(
            err.contains("/boot/firmware/cmdline.txt") && err.contains("reboot"),
            "{err}"
        );
        write(
            paths.proc.join("cgroups"),
            &CGROUPS_V1.replace("memory\t0\t1\t0", "memory\t4\t26\t1"),
        );
        assert_eq!(memory_cgroup(&paths), Ok(()));
        // v2: the controllers file decides.
        write(
            paths.sys.join("fs/cgroup/cgroup.controllers"),
            "cpuset cpu io pids\n",
        );
        assert!(memory_cgroup(&paths).is_err());
        write(
            paths.sys.join("fs/cgroup/cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        );
        assert_eq!(memory_cgroup(&paths), Ok(()));
    }

    #[test]
    fn br_netfilter_and_vxlan_are_required_with_their_fix() {
        let (_dir, paths) = fake();
        write(paths.proc.join("cgroups"), "memory\t4\t26\t1\n");
        let err = run(&paths, true).unwrap_err();
        assert!(err.contains("modprobe br_netfilter"), "{err}");
        write(
            paths.proc.join("sys/net/bridge/bridge-nf-call-iptables"),
            "1\n",
        );
        // host-gw needs no vxlan.
        assert_eq!(run(&paths, false), Ok(()));
        let err = run(&paths, true).unwrap_err();
        assert!(
            err.contains("modprobe vxlan") && err.contains("host-gw"),
            "{err}"
        );
        std::fs::create_dir_all(paths.sys.join("module/vxlan")).unwrap();
        assert_eq!(run(&paths, true), Ok(()));
    }
}
