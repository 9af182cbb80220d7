//! The OCI runtime spec of a container: the image config and the Kubernetes container
//! turned into a process, plus containerd's default security profile (capabilities,
//! masked and read-only /proc paths, no-new-privileges) and the pod sandbox's namespaces.
//!
//! Not handled yet: named image users (needs the rootfs' /etc/passwd),
//! seccomp/AppArmor profiles, host devices for privileged containers,
//! shareProcessNamespace, oom_score_adj by QoS class.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use k8s_openapi::api::core::v1::{Container, Pod};
use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespace,
    LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use super::{process, resources};
use crate::pod_sandbox::Sandbox;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("no command specified: neither the container nor the image sets one")]
    NoCommand,
    #[error("image user {0:?}: only numeric ids and root are supported")]
    User(String),
    #[error("container has runAsNonRoot and would run as root")]
    RunsAsRoot,
    #[error("unknown capability {0:?}")]
    Capability(String),
    #[error("invalid quantity {field}: {value:?}")]
    Quantity { field: String, value: String },
    #[error("{0}")]
    Invalid(String),
    #[error("building the OCI spec: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
}

/// Everything a container's spec is made from.
pub struct SpecInput<'a> {
    /// Names the container's cgroup.
    pub container_id: &'a str,
    pub pod: &'a Pod,
    pub container: &'a Container,
    /// The container's own variables, resolved by the pod worker.
    pub env: &'a [(String, String)],
    pub image: &'a ImageConfiguration,
    pub sandbox: &'a Sandbox,
    /// Bind mounts (/etc/hosts, /etc/resolv.conf, volumes); they replace a default mount
    /// at the same destination.
    pub mounts: Vec<Mount>,
}

/// containerd's default capability set (Docker's too).
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

const MASKED_PATHS: [&str; 9] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

const READONLY_PATHS: [&str; 6] = [
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The cgroup of a container, cgroupfs style so it works on v1 and v2 alike.
pub fn cgroups_path(pod_uid: &str, container_id: &str) -> PathBuf {
    crate::pod_sandbox::pod_cgroup(pod_uid).join(container_id)
}

pub fn build_spec(input: SpecInput<'_>) -> Result<Spec, SpecError> {
    let SpecInput {
        container_id,
        pod,
        container,
        env,
        image,
        sandbox,
        mounts,
    } = input;
    let image_config = image.config().as_ref();
    let pod_spec = pod.spec.as_ref();
    let pod_sc = pod_spec.and_then(|s| s.security_context.as_ref());
    let sc = container.security_context.as_ref();
    let privileged = sc.and_then(|s| s.privileged) == Some(true);
    let hostname = pod_hostname(pod);

    let id = process::identity(image_config, container, pod_sc)?;
    let caps = capabilities(container, privileged)?;
    let escalation = privileged
        || caps.contains(&Capability::SysAdmin)
        || sc.and_then(|s| s.allow_privilege_escalation) == Some(true);
    // The builders start from oci-spec's defaults, which are youki's, not containerd's:
    // clear what containerd leaves empty.
    let mut caps = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()?;
    caps.set_inheritable(None).set_ambient(None);
    let user = UserBuilder::default()
        .uid(id.uid)
        .gid(id.gid)
        .additional_gids(id.additional_gids)
        .build()?;
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(1024u64)
        .soft(1024u64)
        .build()?;
    // A terminal as containerd's CRI gives one (`tty: true`): TERM=xterm unless set.
    let tty = container.tty == Some(true);
    let mut environment = process::environment(image_config, env, &hostname);
    if tty && !environment.iter().any(|e| e.starts_with("TERM=")) {
        environment.push("TERM=xterm".into());
    }
    let process = ProcessBuilder::default()
        .terminal(tty)
        .user(user)
        .args(process::argv(image_config, container, env)?)
        .env(environment)
        .cwd(process::working_dir(image_config, container))
        .capabilities(caps)
        .rlimits(vec![nofile])
        .no_new_privileges(!escalation)
        .build()?;

    let host = |f: fn(&k8s_openapi::api::core::v1::PodSpec) -> Option<bool>| {
        pod_spec.and_then(f) == Some(true)
    };
    let mut namespaces = vec![ns(LinuxNamespaceType::Mount, None)?];
    if !host(|s| s.host_pid) {
        namespaces.push(ns(LinuxNamespaceType::Pid, None)?);
    }
    if !host(|s| s.host_network) {
        namespaces.push(ns(LinuxNamespaceType::Network, Some(&sandbox.net))?);
        namespaces.push(ns(LinuxNamespaceType::Uts, Some(&sandbox.uts))?);
    }
    if !host(|s| s.host_ipc) {
        namespaces.push(ns(LinuxNamespaceType::Ipc, Some(&sandbox.ipc))?);
    }

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(cgroups_path(&sandbox.uid, container_id))
        .resources(resources::linux_resources(container, privileged)?);
    linux = linux
        .masked_paths(MASKED_PATHS.map(String::from).to_vec())
        .readonly_paths(READONLY_PATHS.map(String::from).to_vec());
    let sysctls = pod_sc.and_then(|p| p.sysctls.as_ref());
    if let Some(sysctls) = sysctls.filter(|s| !s.is_empty()) {
        linux = linux.sysctl(
            sysctls
                .iter()
                .map(|s| (s.name.clone(), s.value.clone()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }

    let mut linux = linux.build()?;
    if privileged {
        linux.set_masked_paths(None).set_readonly_paths(None);
    }

    let readonly_root = sc.and_then(|s| s.read_only_root_filesystem) == Some(true);
    let mut spec = SpecBuilder::default()
        .version("1.0.2-dev")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(readonly_root)
                .build()?,
        )
        .process(process)
        .mounts(all_mounts(mounts, privileged)?)
        .linux(linux)
        .build()?;
    // The UTS namespace already carries the pod's hostname.
    spec.set_hostname(None)
        .set_annotations(Some(shim_group(&sandbox.uid)));
    Ok(spec)
}

/// The runc v2 shim reads this annotation from a new container's spec and serves every
/// container carrying the same value from one shim process (containerd's CRI uses
/// `io.kubernetes.cri.sandbox-id`, the next key it looks at, for the same purpose).
pub const SHIM_GROUP: &str = "io.containerd.runc.v2.group";

/// Every container of a pod (init containers and sidecars too) names the pod's uid as its
/// shim group, so the pod costs one shim; the shim exits with the pod's last container.
fn shim_group(pod_uid: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(SHIM_GROUP.to_string(), pod_uid.to_string())])
}

/// The pod's hostname as Kubernetes picks it (`spec.hostname`, else the pod name,
/// truncated to 63): what the sandbox's UTS namespace and `HOSTNAME` should carry.
pub fn pod_hostname(pod: &Pod) -> String {
    let name = pod.spec.as_ref().and_then(|s| s.hostname.clone());
    let name = name
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    crate::pod_sandbox::pod_hostname(&name).unwrap_or(name)
}

fn ns(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace, SpecError> {
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(path) = path {
        b = b.path(path);
    }
    Ok(b.build()?)
}

/// Default set, or all for privileged; then `add`/`drop` with `ALL` applied first, so
/// `add: [ALL], drop: [CHOWN]` means everything but CHOWN, as in containerd.
fn capabilities(container: &Container, privileged: bool) -> Result<Capabilities, SpecError> {
    if privileged {
        return Ok(all_capabilities());
    }
    let mut caps: Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    let requested = container
        .security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref());
    let add = requested.and_then(|c| c.add.clone()).unwrap_or_default();
    let drop = requested.and_then(|c| c.drop.clone()).unwrap_or_default();
    let is_all = |c: &String| c.eq_ignore_ascii_case("ALL");
    if add.iter().any(is_all) {
        caps = all_capabilities();
    }
    if drop.iter().any(is_all) {
        caps.clear();
    }
    for name in add.iter().filter(|c| !is_all(c)) {
        caps.insert(parse_capability(name)?);
    }
    for name in drop.iter().filter(|c| !is_all(c)) {
        caps.remove(&parse_capability(name)?);
    }
    Ok(caps)
}

/// Accepts `NET_ADMIN`, `CAP_NET_ADMIN`, any case.
fn parse_capability(name: &str) -> Result<Capability, SpecError> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    Capability::from_str(bare).map_err(|_| SpecError::Capability(name.to_string()))
}

fn all_capabilities() -> Capabilities {
    ALL_CAPABILITY_NAMES
        .iter()
        .filter_map(|n| Capability::from_str(n).ok())
        .collect()
}

const ALL_CAPABILITY_NAMES: [&str; 41] = [
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETGID",
    "SETFCAP",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, SpecError> {
    Ok(MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()?)
}

/// containerd's default mounts, then the caller's; a caller mount replaces the default
/// at the same destination.
fn all_mounts(extra: Vec<Mount>, privileged: bool) -> Result<Vec<Mount>, SpecError> {
    let sys_mode = if privileged { "rw" } else { "ro" };
    let defaults = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_mode],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", sys_mode],
        )?,
    ];
    let mut mounts: Vec<Mount> = defaults
        .into_iter()
        .filter(|d| !extra.iter().any(|e| e.destination() == d.destination()))
        .collect();
    mounts.extend(extra);
    Ok(mounts)
}

#[cfg(test)]
mod tests;
