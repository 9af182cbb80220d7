//! The service proxy (docs/architecture.md, Agent): ClusterIP and NodePort traffic spread over
//! a service's ready endpoints, in nftables (default) or iptables.
//!
//! - `model.rs`: Service + Endpoints → [`model::PortRule`]s (pure).
//! - `nft.rs`: the nftables layout: table `ip skiff_proxy`, maps and sets, no chain per
//!   service (pure; element diffs per service).
//! - `iptables.rs`: the same behaviour in iptables' nat and filter tables, chains named
//!   `SKIFF-*` (pure; iptables-restore input).
//! - `conntrack.rs`: the UDP flows to forget when an endpoint leaves (pure).
//! - `exec.rs`: running `nft` / `iptables-restore` behind [`ProxyExec`], with a fake;
//!   `session.rs`: a long-lived `nft -i` for single-service updates.
//! - `lab.rs`: network namespaces standing in for a node, for real tests and benchmarks.
//!
//! [`Proxier`] is the only stateful part: it remembers what it applied, so
//! [`Proxier::update`] sends one transaction with that service's changes only.
//! When a transaction fails, the next call does a full resync instead.

pub mod conntrack;
pub mod exec;
#[cfg(test)]
pub(crate) mod fake;
pub mod iptables;
#[cfg(any(test, feature = "test-support"))]
pub mod lab;
pub mod model;
pub mod nft;
mod session;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use tracing::{debug, info, warn};

pub use exec::{HostExec, ProxyExec};
#[cfg(test)]
pub(crate) use fake::RecordingExec;
use model::{NodeView, PortRule};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{tool}: {reason}")]
    Tool { tool: String, reason: String },
    #[error("invalid proxy config: {0}")]
    InvalidConfig(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Nftables,
    Iptables,
}

impl ProxyMode {
    /// nftables where `nft` is installed, iptables otherwise.
    pub fn detect() -> ProxyMode {
        if on_path("nft") {
            ProxyMode::Nftables
        } else {
            ProxyMode::Iptables
        }
    }

    /// The `--proxy-mode` flag, or [`Self::detect`] without it.
    pub fn from_flag(flag: Option<&str>) -> Result<ProxyMode, ProxyError> {
        match flag {
            None => Ok(ProxyMode::detect()),
            Some(s) => s.parse(),
        }
    }
}

impl std::str::FromStr for ProxyMode {
    type Err = ProxyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nftables" | "nft" => Ok(ProxyMode::Nftables),
            "iptables" => Ok(ProxyMode::Iptables),
            _ => Err(ProxyError::InvalidConfig(format!(
                "--proxy-mode {s:?}: expected nftables or iptables"
            ))),
        }
    }
}

impl std::fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProxyMode::Nftables => "nftables",
            ProxyMode::Iptables => "iptables",
        })
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(tool).is_file())
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub node_name: String,
    /// Addresses that answer node ports.
    pub node_ips: Vec<Ipv4Addr>,
    /// This node's pods: tells local endpoints apart when `nodeName` is missing.
    pub pod_cidr: Ipv4Net,
    pub cluster_cidr: Option<Ipv4Net>,
    pub mode: ProxyMode,
    /// Node ports on 127.0.0.1 as well. Sets `net.ipv4.conf.all.route_localnet=1`,
    /// which lets packets to or from 127.0.0.0/8 be routed off the host: anything else
    /// on the node listening on loopback only (a database, an admin port) becomes
    /// reachable by whoever can send packets addressed to 127.0.0.1 to this node
    /// (its neighbours on the link). Off by default, as in kube-proxy.
    pub nodeport_localhost: bool,
    /// nft table (family `ip`); `skiff_proxy` but in tests.
    pub nft_table: String,
}

impl ProxyConfig {
    pub fn new(node_name: impl Into<String>, node_ips: Vec<Ipv4Addr>, pod_cidr: Ipv4Net) -> Self {
        ProxyConfig {
            node_name: node_name.into(),
            node_ips,
            pod_cidr,
            cluster_cidr: None,
            mode: ProxyMode::detect(),
            nodeport_localhost: false,
            nft_table: nft::DEFAULT_TABLE.to_string(),
        }
    }

    fn validate(&self) -> Result<(), ProxyError> {
        let t = &self.nft_table;
        let ok = t.len() <= 64
            && t.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(ProxyError::InvalidConfig(format!("nft_table {t:?}")));
        }
        Ok(())
    }

    /// Node-port addresses, 127.0.0.1 added with `nodeport_localhost`, 127/8 otherwise
    /// dropped.
    fn node_port_ips(&self) -> Vec<Ipv4Addr> {
        let mut ips: Vec<Ipv4Addr> = self
            .node_ips
            .iter()
            .copied()
            .filter(|ip| !ip.is_loopback())
            .collect();
        if self.nodeport_localhost {
            ips.push(Ipv4Addr::LOCALHOST);
        }
        ips.sort();
        ips.dedup();
        ips
    }
}

enum Engine {
    Nft {
        skeleton: nft::Skeleton,
        state: nft::NftState,
    },
    Ipt(iptables::IptState),
}

/// The node's service proxy. Not shared: one task owns it and feeds it the watch.
pub struct Proxier {
    cfg: ProxyConfig,
    exec: Arc<dyn ProxyExec>,
    engine: Engine,
    /// What the cluster wants, per `namespace/name`.
    desired: BTreeMap<String, Vec<PortRule>>,
    /// The kernel may differ from what we think (a failed transaction, no sync yet):
    /// the next call resyncs in full.
    dirty: bool,
    /// The other mode's rules (from before a `--proxy-mode` switch) are gone.
    other_mode_cleared: bool,
}

impl Proxier {
    pub fn new(cfg: ProxyConfig) -> Result<Self, ProxyError> {
        Self::with_exec(cfg, Arc::new(HostExec::default()))
    }

    pub fn with_exec(cfg: ProxyConfig, exec: Arc<dyn ProxyExec>) -> Result<Self, ProxyError> {
        cfg.validate()?;
        let engine = match cfg.mode {
            ProxyMode::Nftables => Engine::Nft {
                skeleton: nft::Skeleton {
                    table: cfg.nft_table.clone(),
                    node_ips: cfg.node_port_ips(),
                    localhost: cfg.nodeport_localhost,
                },
                state: nft::NftState::default(),
            },
            ProxyMode::Iptables => Engine::Ipt(iptables::IptState::new(
                cfg.node_port_ips(),
                cfg.nodeport_localhost,
            )),
        };
        Ok(Proxier {
            cfg,
            exec,
            engine,
            desired: BTreeMap::new(),
            dirty: true,
            other_mode_cleared: false,
        })
    }

    pub fn mode(&self) -> ProxyMode {
        self.cfg.mode
    }

    /// Replaces every service's rules in one transaction (at start and after a watch
    /// reconnect). Established connections keep their conntrack entries, and new ones
    /// see either the old or the new rules, never none.
    pub async fn resync(&mut self, all: &[(Service, Option<Endpoints>)]) -> Result<(), ProxyError> {
        self.desired.clear();
        for (svc, eps) in all {
            let rules = self.rules(svc, eps.as_ref());
            if !rules.is_empty() {
                self.desired.insert(key_of(svc), rules);
            }
        }
        self.full_sync().await
    }

    /// Applies one service's change; other services' rules and elements stay untouched.
    pub async fn update(
        &mut self,
        svc: &Service,
        endpoints: Option<&Endpoints>,
    ) -> Result<(), ProxyError> {
        let key = key_of(svc);
        let rules = self.rules(svc, endpoints);
        let old = if rules.is_empty() {
            self.desired.remove(&key)
        } else {
            self.desired.insert(key.clone(), rules.clone())
        };
        self.apply_one(&key).await?;
        self.forget_stale_flows(&old.unwrap_or_default(), &rules)
            .await;
        Ok(())
    }

    pub async fn remove(&mut self, namespace: &str, name: &str) -> Result<(), ProxyError> {
        let key = format!("{namespace}/{name}");
        let old = self.desired.remove(&key);
        self.apply_one(&key).await?;
        self.forget_stale_flows(&old.unwrap_or_default(), &[]).await;
        Ok(())
    }

    /// After the rules changed: UDP flows to endpoints that left go (best effort: a
    /// failure leaves them to time out).
    async fn forget_stale_flows(&self, old: &[PortRule], new: &[PortRule]) {
        for flow in conntrack::stale_flows(old, new) {
            if let Err(e) = self.exec.conntrack(&flow.args()).await {
                warn!(endpoint = %flow.endpoint, port = flow.dport, error = %e, "stale udp flows not deleted");
            }
        }
    }

    fn rules(&self, svc: &Service, eps: Option<&Endpoints>) -> Vec<PortRule> {
        let view = NodeView {
            node_name: &self.cfg.node_name,
            pod_cidr: self.cfg.pod_cidr,
        };
        model::port_rules(svc, eps, &view)
    }

    async fn apply_one(&mut self, key: &str) -> Result<(), ProxyError> {
        if self.dirty {
            return self.full_sync().await;
        }
        let rules = self.desired.get(key).cloned().unwrap_or_default();
        let result = match &mut self.engine {
            Engine::Nft { skeleton, state } => {
                let c = nft::contribution(&rules);
                match state.update(skeleton, key, &c) {
                    Some(script) => self.exec.nft_update(&script).await,
                    None => Ok(()),
                }
            }
            Engine::Ipt(state) => match state.update(key, &rules) {
                Some(input) => self.exec.iptables_restore_update(&input).await,
                None => Ok(()),
            },
        };
        match result {
            Ok(()) => {
                debug!(service = %key, ports = rules.len(), "service rules applied");
                Ok(())
            }
            Err(e) => {
                warn!(service = %key, error = %e, "service update failed; next change resyncs");
                self.dirty = true;
                Err(e)
            }
        }
    }

    async fn full_sync(&mut self) -> Result<(), ProxyError> {
        self.dirty = true;
        if self.cfg.nodeport_localhost {
            self.exec
                .sysctl("net.ipv4.conf.all.route_localnet", "1")
                .await?;
        }
        match &mut self.engine {
            Engine::Nft { skeleton, state } => {
                let listing = self.exec.nft_list(&skeleton.table).await?;
                let existing = nft::Existing::parse(listing.as_deref().unwrap_or(""));
                let services: Vec<(String, nft::Contribution)> = self
                    .desired
                    .iter()
                    .map(|(k, r)| (k.clone(), nft::contribution(r)))
                    .collect();
                let script = state.resync(skeleton, &services, &existing);
                self.exec.nft(&script).await?;
            }
            Engine::Ipt(state) => {
                let nat = self.exec.iptables_save("nat").await?;
                let filter = self.exec.iptables_save("filter").await?;
                let existing = iptables::existing_chains(&nat, &filter);
                let missing = iptables::missing_jumps(&nat, &filter);
                let input = state.resync(&self.desired, &existing, &missing);
                self.exec.iptables_restore(&input).await?;
            }
        }
        self.dirty = false;
        info!(mode = %self.cfg.mode, services = self.desired.len(), "service rules resynced");
        if !self.other_mode_cleared {
            // After a switch of --proxy-mode the other backend's rules would still
            // catch packets first; they go once the new ones are in place.
            let other = match self.cfg.mode {
                ProxyMode::Nftables if on_path("iptables") => {
                    Some(cleanup_iptables(self.exec.as_ref()).await)
                }
                ProxyMode::Iptables if on_path("nft") => {
                    Some(cleanup_nft(self.exec.as_ref(), &self.cfg.nft_table).await)
                }
                _ => None,
            };
            if let Some(Err(e)) = other {
                warn!(error = %e, "removing the other proxy mode's rules failed");
            }
            self.other_mode_cleared = true;
        }
        Ok(())
    }
}

fn key_of(svc: &Service) -> String {
    format!(
        "{}/{}",
        svc.metadata.namespace.as_deref().unwrap_or("default"),
        svc.metadata.name.as_deref().unwrap_or_default()
    )
}

/// For `skiff-agent cleanup`: removes the proxy's nft table and iptables chains, for
/// whichever of the tools is installed. Idempotent.
pub async fn cleanup(exec: &dyn ProxyExec, nft_table: &str) -> Result<(), ProxyError> {
    if on_path("nft") {
        cleanup_nft(exec, nft_table).await?;
    }
    if on_path("iptables") {
        cleanup_iptables(exec).await?;
    }
    info!(table = %nft_table, "service proxy rules removed");
    Ok(())
}

async fn cleanup_nft(exec: &dyn ProxyExec, nft_table: &str) -> Result<(), ProxyError> {
    exec.nft(&nft::delete_table_script(nft_table)).await
}

async fn cleanup_iptables(exec: &dyn ProxyExec) -> Result<(), ProxyError> {
    let nat = exec.iptables_save("nat").await?;
    let filter = exec.iptables_save("filter").await?;
    match iptables::cleanup_input(&nat, &filter) {
        Some(input) => exec.iptables_restore(&input).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod external_tests;
#[cfg(test)]
mod real_external_tests;
#[cfg(test)]
mod real_local_endpoint_tests;
#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;
