//! The machines of a multi-node test: a bridge in the root namespace (the "host", with
//! an address on it), one network namespace per node with a veth on the bridge, and for
//! [`Layout::TwoSubnets`] a router namespace between the host's subnet and a second
//! bridge holding the last node. Addresses come from 198.18.0.0/15 (RFC 2544's benchmark
//! range), one /24 per test process, so nothing here can reach a real network. All of it
//! is removed on drop, also when a test panics.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::Context;

use crate::process;

/// Where the nodes sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Every node on the host's bridge, one /24.
    OneSubnet,
    /// The last node on a second subnet, reached through a router namespace.
    TwoSubnets,
}

/// The test's bridge(s), namespaces and addresses.
pub struct TestNet {
    pub layout: Layout,
    /// Short and unique per process: names of links and namespaces carry it.
    id: String,
    /// The /24 the test owns: 198.18.`octet`.0/24.
    octet: u8,
    links: Vec<String>,
    namespaces: Vec<String>,
    pub host_ip: Ipv4Addr,
    /// Per node: its namespace, the host side of its veth, and its address.
    pub nodes: Vec<NodeNet>,
}

#[derive(Debug, Clone)]
pub struct NodeNet {
    pub netns: String,
    pub host_link: String,
    pub ip: Ipv4Addr,
}

fn ip(args: &[&str]) -> anyhow::Result<String> {
    process::run(Command::new("ip").args(args))
}

impl TestNet {
    /// Creates the bridge(s) and `nodes` node namespaces.
    pub fn create(nodes: usize, layout: Layout) -> anyhow::Result<TestNet> {
        let pid = std::process::id();
        let id = format!("{:x}", pid & 0xfff);
        let octet = u8::try_from(pid % 250).unwrap_or(0) + 1;
        let mut net = TestNet {
            layout,
            id,
            octet,
            links: Vec::new(),
            namespaces: Vec::new(),
            host_ip: Ipv4Addr::new(198, 18, octet, 1),
            nodes: Vec::new(),
        };
        net.remove_leftovers();
        crate::http::own_network(net.subnet(), 24);
        net.build(nodes).context("building the test network")?;
        Ok(net)
    }

    /// 198.18.X.0, the test's /24.
    pub fn subnet(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.octet, 0)
    }

    fn addr(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.octet, last)
    }

    /// The prefix length of the host's subnet.
    fn prefix(&self) -> u8 {
        match self.layout {
            Layout::OneSubnet => 24,
            Layout::TwoSubnets => 25,
        }
    }

    fn bridge(&self, second: bool) -> String {
        format!("smb{}{}", self.id, if second { "b" } else { "a" })
    }

    fn build(&mut self, nodes: usize) -> anyhow::Result<()> {
        let prefix = self.prefix();
        for second in [false, true] {
            if second && self.layout == Layout::OneSubnet {
                continue;
            }
            let bridge = self.bridge(second);
            ip(&["link", "add", &bridge, "type", "bridge"])?;
            self.links.push(bridge.clone());
            // Bridged frames must not meet the host's own iptables (a FORWARD policy
            // DROP would cut the nodes off from each other).
            ip(&[
                "link",
                "set",
                &bridge,
                "type",
                "bridge",
                "nf_call_iptables",
                "0",
                "nf_call_arptables",
                "0",
            ])?;
            ip(&["link", "set", &bridge, "up"])?;
        }
        let host = format!("{}/{prefix}", self.host_ip);
        ip(&["addr", "add", &host, "dev", &self.bridge(false)])?;
        if self.layout == Layout::TwoSubnets {
            self.build_router()?;
        }
        for i in 0..nodes {
            let second = self.layout == Layout::TwoSubnets && i + 1 == nodes;
            let node_ip = if second {
                self.addr(140 + u8::try_from(i).unwrap_or(0))
            } else {
                self.addr(11 + u8::try_from(i).unwrap_or(0))
            };
            let netns = format!("skiff-mn-{}-n{}", self.id, i + 1);
            let host_link = format!("sm{}n{}", self.id, i + 1);
            self.add_namespace(&netns)?;
            self.add_leg(&netns, &host_link, "eth0", &self.bridge(second))?;
            ip(&[
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{node_ip}/{prefix}"),
                "dev",
                "eth0",
            ])?;
            if self.layout == Layout::TwoSubnets {
                let (other, via) = if second {
                    (format!("{}/25", self.addr(0)), self.addr(254))
                } else {
                    (format!("{}/25", self.addr(128)), self.addr(126))
                };
                ip(&[
                    "-n",
                    &netns,
                    "route",
                    "add",
                    &other,
                    "via",
                    &via.to_string(),
                ])?;
            }
            self.nodes.push(NodeNet {
                netns,
                host_link,
                ip: node_ip,
            });
        }
        Ok(())
    }

    /// The router: .126 on the host's subnet, .254 on the second one; the host reaches
    /// the second subnet through it.
    fn build_router(&mut self) -> anyhow::Result<()> {
        let netns = format!("skiff-mn-{}-r", self.id);
        self.add_namespace(&netns)?;
        let (a, b) = (format!("sm{}ra", self.id), format!("sm{}rb", self.id));
        self.add_leg(&netns, &a, "eth0", &self.bridge(false))?;
        self.add_leg(&netns, &b, "eth1", &self.bridge(true))?;
        let eth0 = format!("{}/25", self.addr(126));
        let eth1 = format!("{}/25", self.addr(254));
        ip(&["-n", &netns, "addr", "add", &eth0, "dev", "eth0"])?;
        ip(&["-n", &netns, "addr", "add", &eth1, "dev", "eth1"])?;
        in_netns(&netns, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        let second = format!("{}/25", self.addr(128));
        ip(&["route", "add", &second, "via", &self.addr(126).to_string()])?;
        Ok(())
    }

    fn add_namespace(&mut self, netns: &str) -> anyhow::Result<()> {
        ip(&["netns", "add", netns])?;
        self.namespaces.push(netns.to_string());
        ip(&["-n", netns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// A veth from `bridge` into `netns`, named `inner` there, both ends up.
    fn add_leg(
        &mut self,
        netns: &str,
        outer: &str,
        inner: &str,
        bridge: &str,
    ) -> anyhow::Result<()> {
        ip(&[
            "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", netns,
        ])?;
        self.links.push(outer.to_string());
        ip(&["link", "set", outer, "master", bridge, "up"])?;
        ip(&["-n", netns, "link", "set", inner, "up"])?;
        Ok(())
    }

    /// Takes a node off the network (its veth down on the host side) or puts it back.
    pub fn set_link(&self, node: usize, up: bool) -> anyhow::Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["link", "set", &self.nodes[node].host_link, state])?;
        Ok(())
    }

    /// Whatever a crashed earlier run of this process id left behind.
    fn remove_leftovers(&self) {
        for ns in self.namespaces_named() {
            let _ = ip(&["netns", "del", &ns]);
        }
        for second in [false, true] {
            let _ = ip(&["link", "del", &self.bridge(second)]);
        }
    }

    fn namespaces_named(&self) -> Vec<String> {
        let prefix = format!("skiff-mn-{}-", self.id);
        std::fs::read_dir("/run/netns")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix))
            .collect()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        if self.layout == Layout::TwoSubnets {
            let second = format!("{}/25", self.addr(128));
            let _ = ip(&["route", "del", &second]);
        }
        for ns in self.namespaces.drain(..).rev() {
            let _ = ip(&["netns", "del", &ns]);
        }
        for link in self.links.drain(..).rev() {
            if std::path::Path::new("/sys/class/net").join(&link).exists() {
                let _ = ip(&["link", "del", &link]);
            }
        }
        crate::http::disown_network(self.subnet(), 24);
    }
}

/// Runs a command in a namespace, entering its NET namespace only.
pub fn in_netns(netns: &str, args: &[&str]) -> anyhow::Result<String> {
    process::run(
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("--")
            .args(args),
    )
}
