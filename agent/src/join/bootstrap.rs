//! Joining the cluster: the node token pins the control plane's CA, the agent sends a CSR
//! with its Node object, and keeps the certificate it gets back under `<root>/join/`, so
//! a restart reuses it instead of registering again.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::{Object, RegisterRequest};
use tracing::info;

/// What the agent needs from its registration to run as a node of the cluster.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub pod_cidr: String,
    /// Every node's pod CIDR lies inside it; empty in credentials saved by an older agent.
    pub cluster_cidr: String,
}

/// Where the credentials live: one directory, private to root.
pub struct JoinFiles {
    dir: PathBuf,
}

impl JoinFiles {
    pub fn new(root: &Path) -> JoinFiles {
        JoinFiles {
            dir: root.join("join"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The saved credentials, when all of them are there.
    pub fn load(&self) -> Option<Credentials> {
        let read = |n: &str| std::fs::read_to_string(self.path(n)).ok();
        Some(Credentials {
            ca_pem: read("ca.crt")?,
            cert_pem: read("node.crt")?,
            key_pem: read("node.key")?,
            pod_cidr: read("pod-cidr")?.trim().to_string(),
            cluster_cidr: read("cluster-cidr").unwrap_or_default().trim().to_string(),
        })
        .filter(|c| !c.pod_cidr.is_empty())
    }

    pub fn save(&self, creds: &Credentials) -> anyhow::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("create {}", self.dir.display()))?;
        for (name, text, mode) in [
            ("ca.crt", &creds.ca_pem, 0o644),
            ("node.crt", &creds.cert_pem, 0o644),
            ("node.key", &creds.key_pem, 0o600),
            ("pod-cidr", &creds.pod_cidr, 0o644),
            ("cluster-cidr", &creds.cluster_cidr, 0o644),
        ] {
            // Written aside and renamed, so a crash never leaves a half-written key.
            let tmp = self.path(&format!(".{name}.tmp"));
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)
                .with_context(|| format!("write {}", tmp.display()))?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.path(name))?;
        }
        Ok(())
    }

    pub fn clear(&self) {
        let _ = std::fs::remove_file(self.path("node.crt"));
    }
}

/// Registers `node_name` with the control plane at `server`, authenticated by `token`.
pub async fn register(
    server: &str,
    token: &str,
    node_name: &str,
    node_ip: Option<IpAddr>,
) -> anyhow::Result<Credentials> {
    let ca_pem = skiff_proto::auth::fetch_ca_pinned(server, token)
        .await
        .with_context(|| format!("fetch the CA of {server}"))?;
    let ips: Vec<IpAddr> = node_ip.into_iter().collect();
    let (key_pem, csr_pem) = node_csr(node_name, &ips)?;
    let node = node_object(node_name, node_ip);
    let channel = skiff_proto::auth::endpoint(server, &ca_pem, None)?
        .connect()
        .await
        .with_context(|| format!("connect to {server}"))?;
    let resp = NodeClient::new(channel)
        .register(RegisterRequest {
            token: token.to_string(),
            node: Some(Object {
                kind: "Node".into(),
                name: node_name.to_string(),
                json: serde_json::to_vec(&node)?,
                ..Default::default()
            }),
            csr_pem,
        })
        .await
        .context("register")?
        .into_inner();
    info!(node = node_name, pod_cidr = %resp.pod_cidr, "registered with the control plane");
    Ok(Credentials {
        // The CA the server returns is the one it signs with; the pinned one verified it.
        ca_pem: if resp.ca_pem.is_empty() {
            ca_pem
        } else {
            resp.ca_pem
        },
        cert_pem: resp.certificate_pem,
        key_pem,
        pod_cidr: resp.pod_cidr,
        cluster_cidr: resp.cluster_cidr,
    })
}

/// A fresh key and a CSR the control plane accepts for a node: CN `system:node:<name>`,
/// O `system:nodes`, the node's IPs as SANs (the control plane checks them when it calls
/// the agent).
pub fn node_csr(node_name: &str, ips: &[IpAddr]) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate().context("generate the node key")?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("system:node:{node_name}"));
    dn.push(DnType::OrganizationName, "system:nodes");
    params.distinguished_name = dn;
    params.subject_alt_names = ips.iter().map(|ip| SanType::IpAddress(*ip)).collect();
    let csr = params
        .serialize_request(&key)
        .context("sign the CSR")?
        .pem()
        .context("encode the CSR")?;
    Ok((key.serialize_pem(), csr))
}

/// The Node as this agent sees itself.
pub fn node_object(node_name: &str, node_ip: Option<IpAddr>) -> Node {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), node_name.to_string()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), arch.to_string()),
    ]);
    let mut addresses = Vec::new();
    if let Some(ip) = node_ip {
        addresses.push(NodeAddress {
            type_: "InternalIP".into(),
            address: ip.to_string(),
        });
    }
    addresses.push(NodeAddress {
        type_: "Hostname".into(),
        address: node_name.to_string(),
    });
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut capacity = BTreeMap::from([
        ("cpu".to_string(), Quantity(cpus.to_string())),
        ("pods".to_string(), Quantity("110".into())),
    ]);
    if let Some(kib) = mem_total_kib() {
        capacity.insert("memory".into(), Quantity(format!("{kib}Ki")));
    }
    Node {
        metadata: ObjectMeta {
            name: Some(node_name.to_string()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: None,
        status: Some(NodeStatus {
            addresses: Some(addresses),
            allocatable: Some(capacity.clone()),
            capacity: Some(capacity),
            node_info: Some(NodeSystemInfo {
                architecture: arch.to_string(),
                operating_system: "linux".into(),
                kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default(),
                os_image: os_image().unwrap_or_else(|| "Linux".into()),
                kubelet_version: format!("skiff-{}", env!("CARGO_PKG_VERSION")),
                container_runtime_version: "containerd".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn mem_total_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

fn os_image() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_and_node_carry_the_name_and_ip() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let (key, csr) = node_csr("n1", &[ip]).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        assert!(csr.contains("CERTIFICATE REQUEST"));
        let node = node_object("n1", Some(ip));
        let status = node.status.unwrap();
        assert_eq!(status.addresses.unwrap()[0].address, "10.0.0.7");
        assert!(status.capacity.unwrap().contains_key("cpu"));
    }

    #[test]
    fn saved_credentials_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let files = JoinFiles::new(dir.path());
        assert!(files.load().is_none());
        let creds = Credentials {
            ca_pem: "ca".into(),
            cert_pem: "crt".into(),
            key_pem: "key".into(),
            pod_cidr: "10.42.1.0/24".into(),
            cluster_cidr: "10.42.0.0/16".into(),
        };
        files.save(&creds).unwrap();
        assert_eq!(files.load().unwrap().pod_cidr, "10.42.1.0/24");
        assert_eq!(files.load().unwrap().cluster_cidr, "10.42.0.0/16");
        files.clear();
        assert!(files.load().is_none());
    }
}
