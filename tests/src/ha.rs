//! A highly available cluster on one machine: three etcd members, two control-plane
//! servers on them (the second `--join`s the first) and one joined node, each in a
//! network namespace of its own on the test bridge ([`TestNet`]); containerd and the
//! registry stay on the host. The node's agent is told only the first server; it learns
//! the second from the `kubernetes` Endpoints.
//!
//! Drops in order: the agent (by pid, then `skiff-agent cleanup` in its namespace), the
//! servers, the etcd members, the registry, containerd, the namespaces and links.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::agent::{AgentOpts, TestAgent};
use crate::cluster::TestControlPlane;
use crate::containerd::TestContainerd;
use crate::env::PUSHED;
use crate::etcd::{EtcdCluster, MemberNet};
use crate::images::TestImage;
use crate::multinode::{Layout, TestNet};
use crate::registry::TestRegistry;
use crate::rest::Rest;
use crate::wait_for;

pub const ETCD_MEMBERS: usize = 3;
pub const SERVERS: usize = 2;
/// The API port of every server (each has an address of its own).
pub const API_PORT: u16 = 6443;
/// `--leader-lease` of the servers.
pub const LEADER_LEASE: Duration = Duration::from_secs(15);
pub const NODE_NAME: &str = "ha-node-1";

/// Which test-net node each part sits on.
const fn etcd_slot(i: usize) -> usize {
    i
}
const fn server_slot(i: usize) -> usize {
    ETCD_MEMBERS + i
}
const AGENT_SLOT: usize = ETCD_MEMBERS + SERVERS;

/// The running cluster. Fields drop in the order written.
pub struct HaCluster {
    pub agent: Option<TestAgent>,
    pub servers: Vec<TestControlPlane>,
    pub etcd: EtcdCluster,
    pub registry: TestRegistry,
    pub containerd: TestContainerd,
    pub net: TestNet,
    _serial: crate::SerialGuard,
}

/// The `etcd` member nets of `net`'s first `ETCD_MEMBERS` nodes.
pub fn etcd_nets(net: &TestNet, members: usize) -> Vec<MemberNet> {
    (0..members)
        .map(|i| {
            let node = &net.nodes[etcd_slot(i)];
            MemberNet {
                name: format!("etcd-{}", i + 1),
                netns: node.netns.clone(),
                ip: node.ip,
            }
        })
        .collect()
}

impl HaCluster {
    /// Builds everything and returns when both servers answer and the node is Ready.
    pub fn start() -> anyhow::Result<HaCluster> {
        let serial = crate::serial();
        let net = TestNet::create(AGENT_SLOT + 1, Layout::OneSubnet)?;
        let containerd = TestContainerd::start()?;
        let registry = TestRegistry::start_on(net.host_ip)?;
        for (variant, repo, tag) in PUSHED {
            registry.push(&TestImage::build(*variant)?, repo, tag)?;
        }
        let etcd = EtcdCluster::start(etcd_nets(&net, ETCD_MEMBERS))?;
        let mut cluster = HaCluster {
            agent: None,
            servers: Vec::new(),
            etcd,
            registry,
            containerd,
            net,
            _serial: serial,
        };
        let first = cluster.spawn_server(0, &[])?;
        first.wait_serving(Duration::from_secs(60))?;
        cluster.servers.push(first);
        let join_args = cluster.join_args()?;
        let join_args: Vec<&str> = join_args.iter().map(String::as_str).collect();
        let second = cluster.spawn_server(1, &join_args)?;
        cluster.servers.push(second);
        cluster.wait_server_answers(1, Duration::from_secs(60))?;
        cluster.agent = Some(cluster.start_agent()?);
        cluster.wait_node_ready()?;
        Ok(cluster)
    }

    /// Runs one scenario; an error from `body` becomes a panic while everything is
    /// alive, so the drops print the logs' tails.
    pub fn run(body: impl FnOnce(&mut HaCluster) -> anyhow::Result<()>) {
        if !crate::require_root_and_tools() || !crate::etcd::require_etcd() {
            return;
        }
        let mut cluster = Self::start().unwrap_or_else(|e| panic!("setting up: {e:#}"));
        if let Err(e) = body(&mut cluster) {
            panic!("{e:#}");
        }
    }

    pub fn server_ip(&self, i: usize) -> Ipv4Addr {
        self.net.nodes[server_slot(i)].ip
    }

    pub fn server_url(&self, i: usize) -> String {
        format!("https://{}:{API_PORT}", self.server_ip(i))
    }

    /// Server `i` on the etcd cluster, in its own namespace, with `extra` flags.
    fn spawn_server(&self, i: usize, extra: &[&str]) -> anyhow::Result<TestControlPlane> {
        let store = format!("etcd://{}", self.etcd.endpoints());
        let lease = format!("{}s", LEADER_LEASE.as_secs());
        let mut args = vec!["--store", store.as_str(), "--leader-lease", lease.as_str()];
        args.extend_from_slice(extra);
        TestControlPlane::spawn_in(
            &self.net.nodes[server_slot(i)].netns,
            self.server_ip(i).into(),
            API_PORT,
            &args,
        )
    }

    /// `--join FIRST --token SERVER-TOKEN`, from the first server's data dir.
    fn join_args(&self) -> anyhow::Result<Vec<String>> {
        let token = std::fs::read_to_string(self.servers[0].data().join("server-token"))
            .context("the first server's server-token")?;
        Ok(vec![
            "--join".into(),
            self.servers[0].url.clone(),
            "--token".into(),
            token.trim().to_string(),
        ])
    }

    /// A REST client of server `i` with the first server's admin credentials (the
    /// servers share the CA).
    pub fn rest(&self, i: usize) -> anyhow::Result<Rest> {
        Rest::to(&self.servers[0], &self.server_url(i))
    }

    /// Waits until server `i` answers an authenticated read.
    pub fn wait_server_answers(&mut self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        let rest = self.rest(i)?;
        let what = format!("server {} answering", i + 1);
        let servers = &mut self.servers;
        wait_for(&what, timeout, Duration::from_millis(300), || {
            if let Some(status) = servers[i].exited() {
                return Err(crate::fatal(format!(
                    "server {} exited ({status}): {}",
                    i + 1,
                    crate::tail(&servers[i].log_path(), 15)
                )));
            }
            let reply = rest.get("/api/v1/namespaces/default")?;
            if reply.code == 200 {
                Ok(())
            } else {
                bail!("{}: {}", reply.code, reply.text)
            }
        })
    }

    /// The node, told only the first server.
    fn start_agent(&self) -> anyhow::Result<TestAgent> {
        let token = self.servers[0].token()?;
        let dir = self.agent_scratch()?;
        let mut opts = AgentOpts::new(&self.containerd)
            .mirror("docker.io", &self.registry.url())
            .arg("--server")
            .arg(&self.servers[0].url)
            .arg("--token")
            .arg(&token)
            .arg("--resolv-conf")
            .arg(&dir.join("resolv.conf").display().to_string());
        opts.node_name = NODE_NAME.to_string();
        opts.containerd_namespace = "skiff-ha-1".to_string();
        opts.netns = Some(self.net.nodes[AGENT_SLOT].netns.clone());
        TestAgent::start(opts)
    }

    /// A resolv.conf naming an address of the test subnet nobody holds.
    fn agent_scratch(&self) -> anyhow::Result<std::path::PathBuf> {
        let dir = self.servers[0].scratch().join("agent");
        std::fs::create_dir_all(&dir)?;
        let nobody = Ipv4Addr::from(u32::from(self.net.subnet()) + 2);
        std::fs::write(dir.join("resolv.conf"), format!("nameserver {nobody}\n"))?;
        Ok(dir)
    }

    pub fn agent(&mut self) -> &mut TestAgent {
        self.agent.as_mut().expect("the agent is started")
    }

    /// A live server's index (the first whose process runs).
    pub fn live_server(&mut self) -> usize {
        (0..self.servers.len())
            .find(|&i| self.servers[i].pid().is_some() && self.servers[i].exited().is_none())
            .unwrap_or(0)
    }

    /// GET `path` as the admin on a live server, JSON.
    pub fn get(&mut self, path: &str) -> anyhow::Result<Value> {
        let i = self.live_server();
        let reply = self.rest(i)?.get(path)?;
        if reply.code != 200 {
            bail!(
                "GET {path} on server {}: {} {}",
                i + 1,
                reply.code,
                reply.text
            );
        }
        Ok(reply.json())
    }

    /// The node's Ready condition status (`True`, `False`, `Unknown`).
    pub fn node_ready(&mut self) -> anyhow::Result<String> {
        let node = self.get(&format!("/api/v1/nodes/{NODE_NAME}"))?;
        Ok(node["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .and_then(|c| c["status"].as_str())
            .unwrap_or("none")
            .to_string())
    }

    pub fn wait_node_ready(&mut self) -> anyhow::Result<()> {
        wait_for(
            "the node Ready",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || match self.node_ready()?.as_str() {
                "True" => Ok(()),
                other => bail!("Ready: {other}"),
            },
        )
    }

    /// The leader Lease's holder (`kube-system/skiff-control-plane`).
    pub fn leader(&mut self) -> anyhow::Result<String> {
        let lease = self.get(
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/skiff-control-plane",
        )?;
        lease["spec"]["holderIdentity"]
            .as_str()
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .with_context(|| format!("no holder: {lease}"))
    }

    /// Server `i`'s identity (`<data-dir>/server-id`), the leader Lease's holder when it
    /// leads.
    pub fn server_id(&self, i: usize) -> anyhow::Result<String> {
        let path = self.servers[i].data().join("server-id");
        Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("read {}", path.display()))?
            .trim()
            .to_string())
    }

    /// The node's heartbeat Lease's renewTime.
    pub fn node_renew_time(&mut self) -> anyhow::Result<String> {
        let lease = self.get(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE_NAME}"
        ))?;
        Ok(lease["spec"]["renewTime"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }
}
