//! A multi-node cluster on one machine: the control plane, a registry and one containerd
//! in the root namespace (the "host"), and one `skiff-agent` per node, each in its own
//! network namespace on a test bridge ([`net::TestNet`]), entered with `nsenter --net`
//! only. The agents share the containerd, each with its own containerd namespace and
//! `--root`. Tests reach the nodes from the host as a user reaches Vagrant VMs.
//!
//! Everything is removed on drop, in order: the agents (by pid, then `skiff-agent
//! cleanup` in their namespaces), the control plane, the registry, containerd (which
//! kills what the pods left), then the namespaces and links.

pub mod net;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::agent::{AgentOpts, TestAgent};
use crate::cluster::TestControlPlane;
use crate::containerd::TestContainerd;
use crate::env::PUSHED;
use crate::images::TestImage;
pub use crate::net::http_get;
use crate::registry::TestRegistry;
use crate::wait_for;
pub use net::{in_netns, Layout, TestNet};

/// How the cluster is built.
#[derive(Debug, Clone)]
pub struct Options {
    pub nodes: usize,
    pub layout: Layout,
    /// `--pod-network` of every agent (`vxlan`, `host-gw`); `None`: the agent's default.
    pub pod_network: Option<&'static str>,
    /// `--proxy-mode` of every agent; `None`: the agent's default.
    pub proxy_mode: Option<&'static str>,
    /// Extra control-plane flags (`--node-grace 8s`).
    pub cp_args: Vec<String>,
}

impl Options {
    /// Three nodes on one subnet, defaults everywhere.
    pub fn three_nodes() -> Options {
        Options {
            nodes: 3,
            layout: Layout::OneSubnet,
            pod_network: None,
            proxy_mode: None,
            cp_args: Vec::new(),
        }
    }

    pub fn pod_network(mut self, backend: &'static str) -> Options {
        self.pod_network = Some(backend);
        self
    }

    pub fn layout(mut self, layout: Layout) -> Options {
        self.layout = layout;
        self
    }

    pub fn proxy_mode(mut self, mode: &'static str) -> Options {
        self.proxy_mode = Some(mode);
        self
    }

    pub fn cp_arg(mut self, arg: &str) -> Options {
        self.cp_args.push(arg.to_string());
        self
    }
}

/// The running cluster. Fields drop in the order written.
pub struct MultiNode {
    /// One agent per node, `nodes[i]` named [`MultiNode::node_name`]`(i)`.
    pub nodes: Vec<TestAgent>,
    pub cp: TestControlPlane,
    pub registry: TestRegistry,
    pub containerd: TestContainerd,
    pub net: TestNet,
    opts: Options,
    dir: tempfile::TempDir,
    _serial: crate::SerialGuard,
}

impl MultiNode {
    /// Builds the network, starts the control plane on the host's bridge address, and
    /// joins every node; returns when all are Ready.
    pub fn start(opts: Options) -> anyhow::Result<MultiNode> {
        let serial = crate::serial();
        let net = TestNet::create(opts.nodes, opts.layout)?;
        let containerd = TestContainerd::start()?;
        let registry = TestRegistry::start_on(net.host_ip)?;
        for (variant, repo, tag) in PUSHED {
            registry.push(&TestImage::build(*variant)?, repo, tag)?;
        }
        let cp_args: Vec<&str> = opts.cp_args.iter().map(String::as_str).collect();
        let cp = TestControlPlane::start_on(net.host_ip.into(), &cp_args)?;
        let dir = tempfile::Builder::new().prefix("skiff-e2e-mn-").tempdir()?;
        // The nodes' resolvers: an address of the test subnet nobody holds, so a name
        // outside the cluster domain fails here instead of reaching the machine's DNS.
        let nobody = Ipv4Addr::from(u32::from(net.subnet()) + 2);
        std::fs::write(
            dir.path().join("resolv.conf"),
            format!("nameserver {nobody}\n"),
        )?;
        let mut cluster = MultiNode {
            nodes: Vec::new(),
            cp,
            registry,
            containerd,
            net,
            opts,
            dir,
            _serial: serial,
        };
        for i in 0..cluster.opts.nodes {
            let agent = cluster.provision_node(i)?;
            cluster.nodes.push(agent);
        }
        cluster.wait_ready(cluster.opts.nodes)?;
        Ok(cluster)
    }

    /// Runs one scenario; an error from `body` becomes a panic while everything is
    /// alive, so the drops print the logs' tails.
    pub fn run(opts: Options, body: impl FnOnce(&mut MultiNode) -> anyhow::Result<()>) {
        if !crate::require_root_and_tools() {
            return;
        }
        let mut cluster = Self::start(opts).unwrap_or_else(|e| panic!("setting up: {e:#}"));
        if let Err(e) = body(&mut cluster) {
            panic!("{e:#}");
        }
    }

    pub fn node_name(i: usize) -> String {
        format!("mn-node-{}", i + 1)
    }

    pub fn node_ip(&self, i: usize) -> Ipv4Addr {
        self.net.nodes[i].ip
    }

    /// How node `i` joins the cluster: the agent started in the node's network namespace
    /// with the join flags, as `deploy/join.sh` starts it on a machine of its own. This
    /// is the one place to run the provisioning script instead. No `--node-ip`: the agent
    /// takes the address of the interface that routes to the control plane.
    pub fn provision_node(&self, i: usize) -> anyhow::Result<TestAgent> {
        let node = &self.net.nodes[i];
        let token = self.cp.token()?;
        let mut opts = AgentOpts::new(&self.containerd)
            .mirror("docker.io", &self.registry.url())
            .mirror("k8s.gcr.io", &self.registry.url())
            .arg("--server")
            .arg(&self.cp.url)
            .arg("--token")
            .arg(&token)
            .arg("--resolv-conf")
            .arg(&self.dir.path().join("resolv.conf").display().to_string())
            .arg("--local-path-dir")
            .arg(&self.local_path_dir(i).display().to_string());
        if let Some(backend) = self.opts.pod_network {
            opts = opts.arg("--pod-network").arg(backend);
        }
        if let Some(mode) = self.opts.proxy_mode {
            opts = opts.arg("--proxy-mode").arg(mode);
        }
        opts.node_name = Self::node_name(i);
        opts.containerd_namespace = format!("skiff-mn-{}", i + 1);
        opts.netns = Some(node.netns.clone());
        TestAgent::start(opts)
    }

    /// Node `i`'s `--local-path-dir`: where the local-path provisioner's volumes of that
    /// node live (inside the cluster's temporary dir).
    pub fn local_path_dir(&self, i: usize) -> std::path::PathBuf {
        self.dir.path().join(format!("storage-{}", i + 1))
    }

    /// Waits until `n` nodes are listed and all of them Ready.
    pub fn wait_ready(&self, n: usize) -> anyhow::Result<()> {
        wait_for(
            "the nodes Ready",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || {
                let ready = self.node_readiness()?;
                let count = ready.values().filter(|r| r.as_str() == "True").count();
                if ready.len() == n && count == n {
                    Ok(())
                } else {
                    bail!("nodes' Ready conditions: {ready:?}")
                }
            },
        )
    }

    /// Node name → its Ready condition's status (`True`, `False`, `Unknown`).
    pub fn node_readiness(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let list: Value = serde_json::from_str(&self.cp.skiff(&["get", "nodes", "-o", "json"])?)?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        Ok(items
            .iter()
            .map(|n| {
                let ready = n["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == "Ready")
                    .and_then(|c| c["status"].as_str())
                    .unwrap_or("none");
                (
                    n["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    ready.to_string(),
                )
            })
            .collect())
    }

    /// Waits until node `i`'s Ready condition is no longer True (Unknown once its
    /// heartbeats stop for `--node-grace`).
    pub fn wait_not_ready(&self, i: usize) -> anyhow::Result<()> {
        let name = Self::node_name(i);
        wait_for(
            &format!("{name} NotReady"),
            Duration::from_secs(60),
            Duration::from_millis(500),
            || {
                let readiness = self.node_readiness()?;
                match readiness.get(&name).map(String::as_str) {
                    Some("True") | None => bail!("{readiness:?}"),
                    Some(_) => Ok(()),
                }
            },
        )
    }

    /// The pods labelled `selector` (`app=webserver`): name → (node, Ready).
    pub fn pods(&self, selector: &str) -> anyhow::Result<BTreeMap<String, (String, bool)>> {
        let list: Value = serde_json::from_str(
            &self
                .cp
                .skiff(&["get", "pods", "-l", selector, "-o", "json"])?,
        )?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        Ok(items
            .iter()
            .map(|p| {
                let name = p["metadata"]["name"].as_str().unwrap_or_default();
                let node = p["spec"]["nodeName"].as_str().unwrap_or_default();
                (
                    name.to_string(),
                    (node.to_string(), crate::workloads::is_ready(p)),
                )
            })
            .collect())
    }

    /// Waits until `n` pods labelled `selector` are Ready; name → node.
    pub fn ready_pods(&self, selector: &str, n: usize) -> anyhow::Result<BTreeMap<String, String>> {
        wait_for(
            &format!("{n} ready pods {selector}"),
            Duration::from_secs(120),
            Duration::from_millis(500),
            || {
                let pods = self.pods(selector)?;
                let ready: BTreeMap<String, String> = pods
                    .iter()
                    .filter(|(_, (_, r))| *r)
                    .map(|(name, (node, _))| (name.clone(), node.clone()))
                    .collect();
                if ready.len() == n && pods.len() == n {
                    Ok(ready)
                } else {
                    bail!("pods: {pods:?}")
                }
            },
        )
    }

    /// Loses node `i` as a crashed machine would: its agent killed by pid (its pods keep
    /// running) and its link to the bridge down.
    pub fn lose_node(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].kill9();
        self.net.set_link(i, false)
    }

    /// Brings node `i` back: link up, agent started again on the same root.
    pub fn restore_node(&mut self, i: usize) -> anyhow::Result<()> {
        self.net.set_link(i, true)?;
        self.nodes[i].launch()
    }

    /// Runs a command in node `i`'s network namespace.
    pub fn in_node(&self, i: usize, args: &[&str]) -> anyhow::Result<String> {
        in_netns(&self.net.nodes[i].netns, args)
    }

    /// Writes a manifest next to the control plane's data and applies it.
    pub fn apply(&self, name: &str, yaml: &str) -> anyhow::Result<String> {
        self.cp.apply_yaml(name, yaml)
    }

    /// Applies one of the user's manifests from `tests/manifests/`, unchanged.
    pub fn apply_user_manifest(&self, name: &str) -> anyhow::Result<String> {
        let path = crate::ClusterEnv::user_manifest(name);
        let path = path.to_str().context("manifest path")?;
        self.cp.skiff(&["apply", "-f", path])
    }

    /// The nodePort of a Service's first port.
    pub fn node_port(&self, service: &str) -> anyhow::Result<u16> {
        let svc = self.cp.get_json("svc", service)?;
        let port = svc["spec"]["ports"][0]["nodePort"]
            .as_u64()
            .with_context(|| format!("no nodePort: {svc}"))?;
        Ok(u16::try_from(port)?)
    }
}

/// The pod name in an echo-hostname answer (`Hello, NAME` or just `NAME`).
pub fn answer_pod(body: &str) -> String {
    body.strip_prefix("Hello, ")
        .unwrap_or(body)
        .trim()
        .to_string()
}
