//! The pod network (docs/architecture.md, Pod network): every pod gets an address of the node's pod
//! CIDR on the `skiff0` bridge, reachable from the node, with masqueraded egress.
//!
//! - `bridge.rs`: the bridge and its gateway address; the CIDR overlap check.
//! - `veth.rs`: a veth pair per pod, created straight into the pod's namespace.
//! - `ipam.rs`: crash-safe address allocation on disk.
//! - `nft.rs`, `sysctl.rs`: egress masquerade and forwarding.
//! - `files.rs`: the pod's `/etc/hosts` and `/etc/resolv.conf`.
//! - `pod_dns.rs`: the resolv.conf by dnsPolicy (cluster DNS, node's, or the pod's own).
//! - `uplink.rs`: the default-route interface (MTU, node address).
//! - `podnet/`: routes to other nodes' pods (vxlan or host-gw), kept in step with the
//!   Node objects.
//!
//! Privileged calls go through [`NetOps`]; `fake::RecordingOps` stands in for tests.

mod bridge;
pub mod error;
#[cfg(test)]
mod fake;
mod files;
mod host;
pub mod ipam;
pub(crate) mod netlink;
pub mod nft;
mod ops;
mod pod_dns;
pub mod podnet;
mod sysctl;
mod uplink;
mod veth;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::Ipv4Net;
use tracing::{debug, info, warn};

pub use error::NetworkError;
pub use files::{hosts_file, write_pod_files, write_pod_files_from, NodeFiles, PodFiles};
pub use host::HostOps;
pub use ipam::{Allocation, Ipam};
pub use ops::{BridgeSpec, HostNetwork, HostNetworkKind, NetOps, VethSpec, VethState};
pub use pod_dns::{ClusterDns, PodDns};
pub use sysctl::Sysctl;
pub use uplink::{default_interface, mtu_of_address, node_ip};
pub use veth::{host_veth_name, HOST_PREFIX, POD_IFACE};

/// The bridge a real node uses.
pub const DEFAULT_BRIDGE: &str = "skiff0";

#[derive(Debug, Clone)]
pub struct NetworkConfig {
    pub pod_cidr: Ipv4Net,
    /// `skiff0` on a node; tests use their own.
    pub bridge: String,
    /// `<root>/network`: the IPAM lives under it.
    pub state_dir: PathBuf,
    /// Pod MTU; the uplink's (1500 without one) when unset.
    pub mtu: Option<u32>,
    /// The nftables table (family `ip`) for the egress chains: `skiff` but in tests.
    pub nft_table: String,
    /// The cluster CIDR: traffic to it keeps the pod's address (pods on other nodes see
    /// the real pod IP). Only the pod CIDR itself when unset.
    pub cluster_cidr: Option<Ipv4Net>,
}

impl NetworkConfig {
    /// The defaults of a real node.
    pub fn new(pod_cidr: Ipv4Net, state_dir: impl Into<PathBuf>) -> Self {
        NetworkConfig {
            pod_cidr,
            bridge: DEFAULT_BRIDGE.to_string(),
            state_dir: state_dir.into(),
            mtu: None,
            nft_table: nft::DEFAULT_TABLE.to_string(),
            cluster_cidr: None,
        }
    }

    fn validate(&self) -> Result<(), NetworkError> {
        if self.pod_cidr.prefix_len() > 30 {
            return Err(NetworkError::InvalidCidr {
                cidr: self.pod_cidr,
                reason: "a /30 or wider is needed for a gateway and pods".into(),
            });
        }
        if self.pod_cidr != self.pod_cidr.trunc() {
            return Err(NetworkError::InvalidCidr {
                cidr: self.pod_cidr,
                reason: format!("host bits set (did you mean {}?)", self.pod_cidr.trunc()),
            });
        }
        let bridge_ok = !self.bridge.is_empty()
            && self.bridge.len() <= 15
            && self
                .bridge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !bridge_ok {
            return Err(NetworkError::InvalidConfig(format!(
                "bridge name {:?}",
                self.bridge
            )));
        }
        if !nft::valid_table_name(&self.nft_table) {
            return Err(NetworkError::InvalidConfig(format!(
                "nft table name {:?}",
                self.nft_table
            )));
        }
        Ok(())
    }
}

/// A pod's place on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodAddress {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
}

/// What [`PodNetwork::gc`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub deleted_links: Vec<String>,
    pub released: Vec<Allocation>,
}

/// The node's pod network. Cheap to clone; every clone shares one IPAM.
#[derive(Clone)]
pub struct PodNetwork {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: NetworkConfig,
    ops: Arc<dyn NetOps>,
    ipam: Arc<Ipam>,
    mtu: u32,
    /// Set-ups and teardowns share it; gc takes it alone, so it never judges a pod that
    /// is half set up.
    gc_lock: tokio::sync::RwLock<()>,
}

impl PodNetwork {
    /// Validates the CIDR (refusing one that overlaps a network the node already uses),
    /// then ensures bridge, gateway address, sysctls and nft chains. Idempotent.
    pub async fn init(cfg: NetworkConfig) -> Result<Self, NetworkError> {
        Self::init_with(cfg, Arc::new(HostOps::default())).await
    }

    pub async fn init_with(cfg: NetworkConfig, ops: Arc<dyn NetOps>) -> Result<Self, NetworkError> {
        cfg.validate()?;
        let mut nets = ops.host_networks(&cfg.bridge).await?;
        // The VXLAN device carries this node's `<pod CIDR>.0/32` (flannel's layout): left
        // by an agent that was killed, it is this node's own, not an overlap.
        nets.retain(|n| !(n.iface == podnet::VXLAN_DEVICE && cfg.pod_cidr.contains(&n.net)));
        if let Some(hit) = bridge::find_overlap(cfg.pod_cidr, &nets) {
            return Err(NetworkError::Overlap {
                cidr: cfg.pod_cidr,
                with: hit.to_string(),
            });
        }
        let mtu = cfg.mtu.unwrap_or_else(uplink::mtu);
        let (state_dir, cidr) = (cfg.state_dir.clone(), cfg.pod_cidr);
        let ipam = tokio::task::spawn_blocking(move || Ipam::open(&state_dir, cidr))
            .await
            .map_err(|e| NetworkError::Netlink(format!("ipam task: {e}")))??;
        let net = PodNetwork {
            inner: Arc::new(Inner {
                cfg,
                ops,
                ipam: Arc::new(ipam),
                mtu,
                gc_lock: tokio::sync::RwLock::new(()),
            }),
        };
        let inner = &net.inner;
        inner.ops.ensure_bridge(&net.bridge_spec()).await?;
        inner.ops.enable_forwarding().await?;
        inner.ops.apply_nft(&net.egress_script()).await?;
        info!(
            pod_cidr = %inner.cfg.pod_cidr,
            bridge = %inner.cfg.bridge,
            gateway = %net.gateway(),
            mtu,
            "pod network initialised"
        );
        Ok(net)
    }

    /// Gives the pod behind `netns` its address; a pod already set up keeps its address
    /// and veth (after an agent restart), a half set-up one is redone.
    pub async fn setup(&self, pod_uid: &str, netns: &Path) -> Result<PodAddress, NetworkError> {
        let _shared = self.inner.gc_lock.read().await;
        let (ip, fresh) = self
            .ipam_call({
                let uid = pod_uid.to_string();
                move |ipam| ipam.claim(&uid)
            })
            .await?;
        // A fresh claim's fsyncs run while the kernel builds the veth pair; the address
        // is handed out only once both are done.
        let durable = fresh.then(|| self.ipam_call(move |ipam| ipam.sync(ip)));
        let spec = self.veth_spec(pod_uid, netns, ip);
        let ops = &self.inner.ops;
        if !fresh {
            match ops.inspect_veth(&spec).await? {
                VethState::Ready => {
                    debug!(pod_uid = %pod_uid, ip = %ip, "pod network already set up");
                    return Ok(self.address(ip));
                }
                VethState::Missing => {}
                VethState::Broken(why) => {
                    warn!(pod_uid = %pod_uid, reason = %why, "pod network redone");
                    ops.delete_link(&spec.host).await?;
                }
            }
        }
        let (created, synced) = match durable {
            Some(durable) => futures::join!(self.create(&spec), durable),
            None => (self.create(&spec).await, Ok(())),
        };
        if let Err(e) = created.and(synced) {
            if let Err(cleanup) = ops.delete_link(&spec.host).await {
                warn!(pod_uid = %pod_uid, error = %cleanup, "veth cleanup failed");
            }
            if fresh {
                let uid = pod_uid.to_string();
                if let Err(release) = self.ipam_call(move |ipam| ipam.release(&uid)).await {
                    warn!(pod_uid = %pod_uid, error = %release, "address release failed");
                }
            }
            return Err(e);
        }
        info!(pod_uid = %pod_uid, ip = %ip, veth = %spec.host, "pod network ready");
        Ok(self.address(ip))
    }

    /// Deletes the pod's veth and releases its address. Idempotent. The address is kept
    /// when the veth cannot be deleted, so it is never handed to another pod while in use.
    pub async fn teardown(&self, pod_uid: &str) -> Result<(), NetworkError> {
        let _shared = self.inner.gc_lock.read().await;
        let host = host_veth_name(pod_uid);
        let deleted = self.inner.ops.delete_link(&host).await?;
        let uid = pod_uid.to_string();
        let released = self.ipam_call(move |ipam| ipam.release(&uid)).await?;
        if deleted || released.is_some() {
            info!(pod_uid = %pod_uid, veth = %host, "pod network removed");
        }
        Ok(())
    }

    /// After a restart: deletes our veths on our bridge and releases addresses of every
    /// pod not in `live`. Set-ups wait while it runs.
    pub async fn gc(&self, live: &HashSet<String>) -> Result<GcReport, NetworkError> {
        let _alone = self.inner.gc_lock.write().await;
        let live_links: HashSet<String> = live.iter().map(|uid| host_veth_name(uid)).collect();
        let mut report = GcReport::default();
        for port in self.inner.ops.bridge_ports(&self.inner.cfg.bridge).await? {
            if port.starts_with(HOST_PREFIX) && !live_links.contains(&port) {
                if self.inner.ops.delete_link(&port).await? {
                    info!(veth = %port, "leftover veth deleted");
                }
                report.deleted_links.push(port);
            }
        }
        let live = live.clone();
        report.released = self
            .ipam_call(move |ipam| ipam.release_unless(|uid| live.contains(uid)))
            .await?;
        for a in &report.released {
            info!(pod_uid = %a.uid, ip = %a.ip, "leftover address released");
        }
        Ok(report)
    }

    pub fn address_of(&self, pod_uid: &str) -> Option<Ipv4Addr> {
        self.inner.ipam.lookup(pod_uid)
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.inner.ipam.gateway()
    }

    pub fn mtu(&self) -> u32 {
        self.inner.mtu
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.inner.cfg
    }

    /// Creates the pair; when that fails, re-ensures the bridge (someone may have
    /// deleted it) and tries once more.
    async fn create(&self, spec: &VethSpec) -> Result<(), NetworkError> {
        let ops = &self.inner.ops;
        let Err(first) = ops.create_veth(spec).await else {
            return Ok(());
        };
        warn!(veth = %spec.host, error = %first, "veth creation failed, checking the bridge");
        ops.delete_link(&spec.host).await?;
        ops.ensure_bridge(&self.bridge_spec()).await?;
        ops.create_veth(spec).await
    }

    async fn ipam_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ipam) -> Result<T, NetworkError> + Send + 'static,
    ) -> Result<T, NetworkError> {
        let ipam = Arc::clone(&self.inner.ipam);
        tokio::task::spawn_blocking(move || f(&ipam))
            .await
            .map_err(|e| NetworkError::Io {
                context: "ipam task".into(),
                source: std::io::Error::other(e),
            })?
    }

    fn address(&self, ip: Ipv4Addr) -> PodAddress {
        PodAddress {
            ip,
            prefix_len: self.inner.cfg.pod_cidr.prefix_len(),
            gateway: self.gateway(),
        }
    }

    fn bridge_spec(&self) -> BridgeSpec {
        BridgeSpec {
            name: self.inner.cfg.bridge.clone(),
            gateway: self.gateway(),
            prefix_len: self.inner.cfg.pod_cidr.prefix_len(),
            mtu: self.inner.mtu,
        }
    }

    fn veth_spec(&self, pod_uid: &str, netns: &Path, ip: Ipv4Addr) -> VethSpec {
        VethSpec {
            host: host_veth_name(pod_uid),
            netns: netns.to_path_buf(),
            bridge: self.inner.cfg.bridge.clone(),
            ip,
            prefix_len: self.inner.cfg.pod_cidr.prefix_len(),
            gateway: self.gateway(),
            mtu: self.inner.mtu,
        }
    }

    fn egress_script(&self) -> String {
        let cfg = &self.inner.cfg;
        nft::egress_script(&nft::EgressRules {
            table: &cfg.nft_table,
            bridge: &cfg.bridge,
            pod_cidr: cfg.pod_cidr,
            no_masquerade: cfg.cluster_cidr,
        })
    }
}

/// For `skiff-agent cleanup`: deletes the `skiff` nftables table, the bridge and the pod
/// veths on it.
pub async fn cleanup_host(bridge: &str) -> Result<(), NetworkError> {
    cleanup_host_table(bridge, nft::DEFAULT_TABLE).await
}

/// [`cleanup_host`] with another table name (tests).
pub async fn cleanup_host_table(bridge_name: &str, table: &str) -> Result<(), NetworkError> {
    if !nft::valid_table_name(table) {
        return Err(NetworkError::InvalidConfig(format!(
            "nft table name {table:?}"
        )));
    }
    nft::run(&nft::delete_table_script(table)).await?;
    let handle = netlink::connect()?;
    // Pod veths would outlive the bridge, detached and found by nobody.
    for port in veth::ports(&handle, bridge_name).await? {
        if port.starts_with(HOST_PREFIX) {
            veth::delete(&handle, &port).await?;
        }
    }
    if bridge::delete(&handle, bridge_name).await? {
        info!(bridge = %bridge_name, table = %table, "pod network removed from host");
    }
    Ok(())
}

#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;
