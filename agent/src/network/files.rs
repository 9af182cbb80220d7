//! A pod's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` (its hostname, as
//! containerd's CRI gives every container): written once into the pod directory and
//! bind-mounted into every container, as the kubelet does (read-write: programs that
//! edit `/etc/hosts` keep working).
//!
//! Like the kubelet, an existing file is left alone, so a container restart does not
//! undo what a sibling wrote; files are written through a rename so a crash never leaves
//! a torn one that would then be kept.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use oci_spec::runtime::{Mount, MountBuilder};

use super::pod_dns::{pod_resolv_conf, ClusterDns, PodDns};

/// Where the node's own files are (tests point them elsewhere).
#[derive(Debug, Clone)]
pub struct NodeFiles {
    pub hosts: PathBuf,
    pub resolv: PathBuf,
    /// systemd-resolved's list of real upstream servers.
    pub resolved_upstream: PathBuf,
}

impl Default for NodeFiles {
    fn default() -> Self {
        NodeFiles {
            hosts: PathBuf::from("/etc/hosts"),
            resolv: PathBuf::from("/etc/resolv.conf"),
            resolved_upstream: PathBuf::from("/run/systemd/resolve/resolv.conf"),
        }
    }
}

const HOSTS_FILE: &str = "etc-hosts";
const RESOLV_FILE: &str = "resolv.conf";
const HOSTNAME_FILE: &str = "hostname";

/// What of a pod its files are made from.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodFiles<'a> {
    pub name: &'a str,
    pub hostname: &'a str,
    /// The pod address: none before the network is set up, or for hostNetwork pods,
    /// which get the node's `/etc/hosts`.
    pub ip: Option<IpAddr>,
    pub host_network: bool,
    pub dns: PodDns<'a>,
}

impl<'a> PodFiles<'a> {
    pub fn of(pod: &'a Pod, hostname: &'a str, ip: Option<IpAddr>) -> Self {
        let spec = pod.spec.as_ref();
        let host_network = spec.and_then(|s| s.host_network) == Some(true);
        PodFiles {
            name: pod.metadata.name.as_deref().unwrap_or_default(),
            hostname,
            ip,
            host_network,
            dns: PodDns {
                namespace: pod.metadata.namespace.as_deref().unwrap_or("default"),
                policy: spec.and_then(|s| s.dns_policy.as_deref()),
                config: spec.and_then(|s| s.dns_config.as_ref()),
                host_network,
            },
        }
    }
}

/// Writes `<pod_dir>/etc-hosts` and `<pod_dir>/resolv.conf` if missing and returns their
/// bind mounts for the container spec. `cluster_dns` is the node's cluster DNS (joined
/// agents), for ClusterFirst pods.
pub fn write_pod_files(
    pod_dir: &Path,
    pod: &PodFiles<'_>,
    cluster_dns: Option<&ClusterDns>,
) -> io::Result<Vec<Mount>> {
    write_pod_files_from(&NodeFiles::default(), pod_dir, pod, cluster_dns)
}

pub fn write_pod_files_from(
    node: &NodeFiles,
    pod_dir: &Path,
    pod: &PodFiles<'_>,
    cluster_dns: Option<&ClusterDns>,
) -> io::Result<Vec<Mount>> {
    fs::create_dir_all(pod_dir)?;
    let hosts = pod_dir.join(HOSTS_FILE);
    if !hosts.exists() {
        let content = if pod.host_network {
            fs::read_to_string(&node.hosts)?
        } else {
            hosts_file(pod.name, pod.hostname, pod.ip)
        };
        write_atomic(&hosts, &content)?;
    }
    let resolv = pod_dir.join(RESOLV_FILE);
    if !resolv.exists() {
        let node_resolv = resolv_conf(node)?;
        let content = pod_resolv_conf(&node_resolv, &pod.dns, cluster_dns).unwrap_or(node_resolv);
        write_atomic(&resolv, &content)?;
    }
    let hostname = pod_dir.join(HOSTNAME_FILE);
    if !hostname.exists() {
        write_atomic(&hostname, &format!("{}\n", pod.hostname))?;
    }
    Ok(vec![
        bind_mount("/etc/hosts", &hosts)?,
        bind_mount("/etc/resolv.conf", &resolv)?,
        bind_mount("/etc/hostname", &hostname)?,
    ])
}

/// The kubelet's managed hosts file: localhost lines, then the pod's address with its
/// hostname (and its name, when the hostname was truncated from it).
pub fn hosts_file(pod_name: &str, hostname: &str, ip: Option<IpAddr>) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = ip {
        out.push_str(&format!("{ip}\t{hostname}"));
        if pod_name != hostname && !pod_name.is_empty() {
            out.push_str(&format!("\t{pod_name}"));
        }
        out.push('\n');
    }
    out
}

/// The node's resolv.conf, unless it points at systemd-resolved's stub (127.0.0.53),
/// which no pod can reach from its own network namespace: then the upstream list
/// resolved keeps, as the kubelet picks on such hosts.
fn resolv_conf(node: &NodeFiles) -> io::Result<String> {
    let content = match fs::read_to_string(&node.resolv) {
        Ok(content) => content,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    if uses_resolved_stub(&content) {
        if let Ok(upstream) = fs::read_to_string(&node.resolved_upstream) {
            return Ok(upstream);
        }
    }
    Ok(content)
}

fn uses_resolved_stub(resolv: &str) -> bool {
    resolv.lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some("nameserver") && words.next() == Some("127.0.0.53")
    })
}

fn write_atomic(path: &Path, content: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, content)?;
    fs::rename(&tmp, path)
}

fn bind_mount(dest: &str, source: &Path) -> io::Result<Mount> {
    MountBuilder::default()
        .destination(dest)
        .typ("bind")
        .source(source)
        .options(vec!["rbind".to_string(), "rprivate".to_string()])
        .build()
        .map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(dir: &Path, resolv: &str, upstream: Option<&str>) -> NodeFiles {
        let files = NodeFiles {
            hosts: dir.join("hosts"),
            resolv: dir.join("resolv"),
            resolved_upstream: dir.join("upstream"),
        };
        fs::write(&files.hosts, "127.0.0.1 localhost\n192.0.2.2 node-1\n").unwrap();
        fs::write(&files.resolv, resolv).unwrap();
        if let Some(up) = upstream {
            fs::write(&files.resolved_upstream, up).unwrap();
        }
        files
    }

    fn named(name: &str) -> PodFiles<'_> {
        PodFiles {
            name,
            hostname: name,
            ..PodFiles::default()
        }
    }

    #[test]
    fn pod_hosts_file_names_the_pod() {
        let dir = tempfile::tempdir().unwrap();
        let nf = node(dir.path(), "nameserver 10.0.0.2\n", None);
        let pod = dir.path().join("pod");
        let ip: IpAddr = "10.42.0.7".parse().unwrap();
        let files = PodFiles {
            name: "web-0",
            hostname: "web-0",
            ip: Some(ip),
            ..PodFiles::default()
        };
        let mounts = write_pod_files_from(&nf, &pod, &files, None).unwrap();
        let hosts = fs::read_to_string(pod.join("etc-hosts")).unwrap();
        assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(hosts.ends_with("fe00::2\tip6-allrouters\n10.42.0.7\tweb-0\n"));
        assert_eq!(
            fs::read_to_string(pod.join("resolv.conf")).unwrap(),
            "nameserver 10.0.0.2\n"
        );

        assert_eq!(mounts.len(), 3);
        assert_eq!(fs::read_to_string(pod.join("hostname")).unwrap(), "web-0\n");
        assert_eq!(mounts[2].destination(), Path::new("/etc/hostname"));
        assert_eq!(mounts[0].destination(), Path::new("/etc/hosts"));
        assert_eq!(
            mounts[0].source().as_deref(),
            Some(pod.join("etc-hosts").as_path())
        );
        assert_eq!(mounts[0].typ().as_deref(), Some("bind"));
        let opts = mounts[0].options().clone().unwrap();
        assert_eq!(opts, vec!["rbind", "rprivate"]);
        assert!(!opts.iter().any(|o| o == "ro"));
        assert_eq!(mounts[1].destination(), Path::new("/etc/resolv.conf"));
        assert_eq!(
            mounts[1].source().as_deref(),
            Some(pod.join("resolv.conf").as_path())
        );
    }

    #[test]
    fn truncated_hostname_keeps_pod_name_as_alias() {
        let text = hosts_file(
            "a-very-long-name",
            "a-very",
            Some("10.42.0.7".parse().unwrap()),
        );
        assert!(text.ends_with("10.42.0.7\ta-very\ta-very-long-name\n"));
        let text = hosts_file("web", "web", None);
        assert!(!text.contains("web"));
    }

    #[test]
    fn host_network_pods_get_the_node_hosts_file() {
        let dir = tempfile::tempdir().unwrap();
        let nf = node(dir.path(), "nameserver 10.0.0.2\n", None);
        let pod = dir.path().join("pod");
        let files = PodFiles {
            name: "agent",
            hostname: "agent",
            host_network: true,
            ..PodFiles::default()
        };
        write_pod_files_from(&nf, &pod, &files, None).unwrap();
        assert_eq!(
            fs::read_to_string(pod.join("etc-hosts")).unwrap(),
            "127.0.0.1 localhost\n192.0.2.2 node-1\n"
        );
    }

    #[test]
    fn systemd_resolved_stub_is_replaced_by_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\n";
        let nf = node(dir.path(), stub, Some("nameserver 192.0.2.1\n"));
        let pod = dir.path().join("pod");
        write_pod_files_from(&nf, &pod, &named("p"), None).unwrap();
        assert_eq!(
            fs::read_to_string(pod.join("resolv.conf")).unwrap(),
            "nameserver 192.0.2.1\n"
        );

        // Without resolved's file the stub is copied as it is.
        let dir = tempfile::tempdir().unwrap();
        let nf = node(dir.path(), stub, None);
        let pod = dir.path().join("pod");
        write_pod_files_from(&nf, &pod, &named("p"), None).unwrap();
        assert_eq!(fs::read_to_string(pod.join("resolv.conf")).unwrap(), stub);
    }

    #[test]
    fn existing_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let nf = node(dir.path(), "nameserver 10.0.0.2\n", None);
        let pod = dir.path().join("pod");
        fs::create_dir_all(&pod).unwrap();
        fs::write(pod.join("etc-hosts"), "edited by a container\n").unwrap();
        let files = PodFiles {
            ip: Some("10.42.0.2".parse().unwrap()),
            ..named("p")
        };
        write_pod_files_from(&nf, &pod, &files, None).unwrap();
        assert_eq!(
            fs::read_to_string(pod.join("etc-hosts")).unwrap(),
            "edited by a container\n"
        );
        assert!(!pod.join("etc-hosts.tmp").exists());
    }
}
