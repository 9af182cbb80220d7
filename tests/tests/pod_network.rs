//! The pod network end to end (docs/architecture.md, Pod network): real namespaces, veths on `skiff0`, the on-disk
//! IPAM and the `skiff` nftables table. Run as root, after building the binaries:
//!
//!     cargo build --workspace && cargo test -p skiff-e2e --test pod_network -- --test-threads=1
//!
//! Traffic goes only to pod addresses and to the `skiff-e2e-world` namespace the tests
//! make (see `skiff_e2e::net`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::Value;
use skiff_agent::network::host_veth_name;
use skiff_e2e::agent::{AgentOpts, TestAgent};
use skiff_e2e::net::{self, pod_ip, Footprint, HostLink, World};
use skiff_e2e::pods::{self, container_status, pod_name, pod_uid, waiting_reason};
use skiff_e2e::{wait_for, StandaloneEnv, TestContainerd};

/// Generous: the first start of a pod includes a pull from the local registry.
const START: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);
/// Leaves at once on SIGTERM, so churn is not paced by grace periods.
const IDLE: &str = "trap 'exit 0' TERM; sleep 100000 & wait";

fn httpd_pod(name: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: httpd\n    image: httpd:latest\n")
}

/// A busybox pod fetching `url` every second, printing the answer to its log.
fn fetch_pod(name: &str, url: &str) -> String {
    let script = format!("while true; do wget -qO- {url} || echo fetch failed; sleep 1; done");
    pods::shell_pod(name, "busybox:latest", &script, "")
}

/// (1) The node reaches a pod's httpd at its IP, and `get pods -o wide` shows that IP.
#[test]
fn node_reaches_pod_by_ip() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        a.write_manifest("web", &httpd_pod("web"))?;
        let pod = a.wait_running("web", START)?;
        let ip = pod_ip(&pod).with_context(|| format!("no podIP: {}", pod["status"]))?;
        ensure!(
            ip.octets()[..3] == [10, 42, 0] && ip.octets()[3] > 1,
            "podIP {ip}"
        );
        let page = wait_for(
            "the page from the node",
            Duration::from_secs(20),
            POLL,
            || net::get_from_pod(ip, 80),
        )?;
        ensure!(page.contains("hello from skiff"), "{ip}:80 said {page:?}");
        let table = a.skiff_ok(&["get", "pods", "-o", "wide"])?;
        let (header, row) = net::wide_row(&table, pod_name(&pod))?;
        let col = header
            .iter()
            .position(|h| h == "IP")
            .context("no IP column")?;
        ensure!(row.get(col) == Some(&ip.to_string()), "IP column:\n{table}");
        Ok(())
    });
}

/// (2) Two pods on the node reach each other over the bridge.
#[test]
fn pods_reach_each_other() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        a.write_manifest("server", &httpd_pod("server"))?;
        let server = a.wait_running("server", START)?;
        let ip = pod_ip(&server).context("server has no podIP")?;
        a.write_manifest("client", &fetch_pod("client", &format!("http://{ip}/")))?;
        let client = a.wait_running("client", START)?;
        ensure!(pod_ip(&client).is_some_and(|c| c != ip), "client IP");
        wait_for(
            "the page in the client's log",
            Duration::from_secs(30),
            POLL,
            || {
                let log = a.logs(pod_name(&client), "main")?;
                ensure!(log.contains("hello from skiff"), "client log: {log:?}");
                Ok(())
            },
        )
    });
}

/// (3) A pod reaches the outside world, which sees the node's address (masquerade).
#[test]
fn pod_egress_is_masqueraded() {
    StandaloneEnv::run(|env| {
        let world = World::start()?;
        let a = &env.agent;
        a.write_manifest("egress", &fetch_pod("egress", &World::url()))?;
        let pod = a.wait_running("egress", START)?;
        let ip = pod_ip(&pod).context("no podIP")?;
        let expected = format!("you came from {}", World::HOST_IP);
        wait_for(
            "the world's answer in the log",
            Duration::from_secs(30),
            POLL,
            || {
                let log = a.logs(pod_name(&pod), "main")?;
                ensure!(log.contains(&expected), "pod log: {log:?}");
                Ok(())
            },
        )?;
        let peers = world.peers();
        ensure!(
            !peers.is_empty() && peers.iter().all(|p| *p == IpAddr::V4(World::HOST_IP)),
            "the world saw {peers:?} (pod IP {ip}), expected only {}",
            World::HOST_IP
        );
        Ok(())
    });
}

/// (4) 100 pod create/delete cycles (10 rounds of 10) leave nothing behind: no
/// namespace, veth, IPAM entry or nft rule.
#[test]
fn churn_leaves_no_network_leftovers() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let before = Footprint::read(&a.root())?;
        ensure!(
            before.ipam.is_empty() && before.bridge_ports.is_empty(),
            "{before:#?}"
        );
        let started = Instant::now();
        for round in 0..10 {
            let names = write_batch(a, "churn", round, 10)?;
            let running = wait_all_running(a, &names)?;
            net::check_addresses(a, &running)?;
            for name in &names {
                a.remove_manifest(name)?;
            }
            wait_settled(a, &before)?;
        }
        println!("100 create/delete cycles in {:.1?}", started.elapsed());
        Ok(())
    });
}

/// (5) `kill -9` of the agent while pods are being set up, and again while they are
/// torn down, at three points each: the restarted agent ends with no duplicate address
/// and no leftovers.
#[test]
fn agent_kill9_during_churn_leaks_nothing() {
    StandaloneEnv::run(|env| {
        let a = &mut env.agent;
        let before = Footprint::read(&a.root())?;
        for (cycle, (up, left)) in [(1, 9), (5, 6), (9, 3)].into_iter().enumerate() {
            let round = 2 * cycle as u32;
            let first = write_batch(a, "crash", round, 10)?;
            // Veths appear as network set-ups proceed: kill once some, not all, exist.
            let n = wait_for("set-ups under way", START, Duration::from_millis(2), || {
                let n = net::bridge_ports(net::BRIDGE).len();
                ensure!(n >= up, "{n} veths on {}", net::BRIDGE);
                Ok(n)
            })?;
            a.kill9();
            println!("cycle {cycle}: killed with {n} of 10 veths made");
            let claimed: HashMap<String, Ipv4Addr> = net::ipam_entries(&a.root())?
                .into_iter()
                .map(|(ip, uid)| (uid, ip))
                .collect();
            for name in &first[..5] {
                a.remove_manifest(name)?;
            }
            let second = write_batch(a, "crash", round + 1, 5)?;
            a.restart()?;
            let wanted: Vec<String> = first[5..].iter().chain(&second).cloned().collect();
            let running = wait_all_running(a, &wanted)?;
            for pod in &running {
                let (was, is) = (claimed.get(pod_uid(pod)), pod_ip(pod));
                ensure!(
                    was.is_none_or(|w| Some(*w) == is),
                    "address {was:?} → {is:?}"
                );
            }
            wait_for("addresses to settle", Duration::from_secs(30), POLL, || {
                net::check_addresses(a, &running)
            })?;

            for name in &wanted {
                a.remove_manifest(name)?;
            }
            // Veths go as network teardowns proceed: kill once some, not all, are gone.
            let n = wait_for(
                "teardown under way",
                START,
                Duration::from_millis(2),
                || {
                    let n = net::bridge_ports(net::BRIDGE).len();
                    ensure!(n <= left, "{n} veths on {}", net::BRIDGE);
                    Ok(n)
                },
            )?;
            a.kill9();
            println!("cycle {cycle}: killed with {n} of 10 veths left");
            a.restart()?;
            wait_settled(a, &before)?;
        }
        Ok(())
    });
}

/// (6) A hostNetwork pod runs in the node's namespace: its podIP is the hostIP, it sees
/// the node's links, and it gets no veth or address of its own.
#[test]
fn host_network_pod_uses_node_network() {
    StandaloneEnv::run(|env| {
        let a = &env.agent;
        let script = "ip -o link; sleep 100000 & wait";
        let spec = "  hostNetwork: true\n";
        a.write_manifest(
            "hostnet",
            &pods::shell_pod("hostnet", "busybox:latest", script, spec),
        )?;
        let pod = a.wait_running("hostnet", START)?;
        let (ip, host) = (pod["status"]["podIP"].as_str(), net::host_ip(&pod));
        ensure!(ip.is_some() && ip == host, "podIP {ip:?}, hostIP {host:?}");
        wait_for(
            "the node's links in the log",
            Duration::from_secs(20),
            POLL,
            || {
                let log = a.logs(pod_name(&pod), "main")?;
                ensure!(log.contains(&format!("{}:", net::BRIDGE)), "log: {log:?}");
                Ok(())
            },
        )?;
        let uid = pod_uid(&pod);
        let ipam = net::ipam_entries(&a.root())?;
        ensure!(!ipam.iter().any(|(_, u)| u == uid), "IPAM entry: {ipam:?}");
        ensure!(
            !net::pod_veths().contains(&host_veth_name(uid)),
            "veth made"
        );
        Ok(())
    });
}

/// (7a) A pod CIDR overlapping a network of the node stops the agent with an error that
/// names the overlap.
#[test]
fn overlapping_pod_cidr_is_refused() {
    if !skiff_e2e::require_root_and_tools() {
        return;
    }
    let run = || -> anyhow::Result<()> {
        let _serial = skiff_e2e::serial();
        let containerd = TestContainerd::start()?;
        let _taken = HostLink::create("skiff-e2e-ov", "10.251.0.1/24")?;
        let bridge = || std::path::Path::new("/sys/class/net/skiff0").exists();
        let bridge_before = bridge();
        let opts = AgentOpts::new(&containerd)
            .arg("--pod-cidr")
            .arg("10.251.0.0/24");
        let mut agent = TestAgent::new_stopped(opts)?;
        let Err(err) = agent.launch() else {
            anyhow::bail!("the agent started on an overlapping pod CIDR");
        };
        let err = format!("{err:#}");
        ensure!(
            err.contains("exited (exit status: ") && !err.contains("exit status: 0"),
            "{err}"
        );
        let log = agent.log_text();
        let says = ["overlaps", "10.251.0.0/24", "skiff-e2e-ov"];
        ensure!(says.iter().all(|s| log.contains(s)), "agent log:\n{log}");
        let said = log.lines().find(|l| l.contains("overlaps"));
        println!("the agent said: {}", said.unwrap_or_default().trim());
        ensure!(bridge() == bridge_before, "skiff0 created anyway");
        Ok(())
    };
    if let Err(e) = run() {
        panic!("{e:#}");
    }
}

/// (7b) A pod CIDR with one usable address: the second pod waits in ContainerCreating
/// saying why while the first runs, and gets the address once the first is gone.
#[test]
fn exhausted_pod_cidr_is_reported() {
    StandaloneEnv::run_with_args(&["--pod-cidr", "10.42.0.0/30"], |env| {
        let a = &env.agent;
        let before = Footprint::read(&a.root())?;
        a.write_manifest(
            "first",
            &pods::shell_pod("first", "busybox:latest", IDLE, ""),
        )?;
        let first = a.wait_running("first", START)?;
        ensure!(
            pod_ip(&first) == Some(Ipv4Addr::new(10, 42, 0, 2)),
            "first IP"
        );
        a.write_manifest(
            "second",
            &pods::shell_pod("second", "busybox:latest", IDLE, ""),
        )?;
        let second = wait_for("second pod to say why", START, POLL, || {
            let pod = a.pod("second")?;
            let status = container_status(&pod, "main").cloned().unwrap_or_default();
            let message = status["state"]["waiting"]["message"].as_str().unwrap_or("");
            ensure!(
                waiting_reason(&pod, "main") == Some("ContainerCreating")
                    && message.contains("no free IP"),
                "status {status}"
            );
            println!("second pod waits: {message}");
            Ok(pod)
        })?;
        let table = a.skiff_ok(&["get", "pods"])?;
        let (_, row) = net::wide_row(&table, pod_name(&second))?;
        ensure!(
            row.contains(&"ContainerCreating".into()),
            "get pods:\n{table}"
        );
        a.wait_running("first", Duration::from_secs(5))?;

        a.remove_manifest("first")?;
        let second = a.wait_running("second", START)?;
        ensure!(
            pod_ip(&second) == Some(Ipv4Addr::new(10, 42, 0, 2)),
            "second IP"
        );
        a.remove_manifest("second")?;
        wait_settled(a, &before)
    });
}

/// Writes `count` idle pods `<prefix>-<i>`; `round` goes into the script, so each round's
/// pods get new uids.
fn write_batch(a: &TestAgent, prefix: &str, round: u32, count: u32) -> anyhow::Result<Vec<String>> {
    (0..count)
        .map(|i| {
            let name = format!("{prefix}-{round}-{i}");
            let script = format!("echo round {round}; {IDLE}");
            a.write_manifest(
                &name,
                &pods::shell_pod(&name, "busybox:latest", &script, ""),
            )?;
            Ok(name)
        })
        .collect()
}

/// The pods among `pods` that are one of `names` (either spelling) and fully running.
fn running_of<'a>(pods: &'a [Value], names: &[String]) -> Vec<&'a Value> {
    pods.iter()
        .filter(|p| is_one_of(p, names))
        .filter(|p| {
            let all = pods::container_statuses(p);
            pods::phase(p) == "Running"
                && !all.is_empty()
                && all.iter().all(|s| s["state"].get("running").is_some())
        })
        .collect()
}

/// Whether the pod is one of `names`, under either spelling of a static pod's name.
fn is_one_of(pod: &Value, names: &[String]) -> bool {
    let n = pod_name(pod);
    let bare = n.strip_suffix(&format!("-{}", skiff_e2e::agent::NODE_NAME));
    names
        .iter()
        .any(|name| n == name || bare == Some(name.as_str()))
}

fn wait_all_running(a: &TestAgent, names: &[String]) -> anyhow::Result<Vec<Value>> {
    wait_for("every pod Running", START, POLL, || {
        let pods = a.pods()?;
        let running: Vec<Value> = running_of(&pods, names).into_iter().cloned().collect();
        ensure!(
            running.len() == names.len(),
            "{} of {} running",
            running.len(),
            names.len()
        );
        Ok(running)
    })
}

/// Waits until no pod is listed and the footprint is back to `before`.
fn wait_settled(a: &TestAgent, before: &Footprint) -> anyhow::Result<()> {
    wait_for(
        "the node to be back to no pods",
        Duration::from_secs(60),
        POLL,
        || {
            let listed = a.pods()?;
            ensure!(listed.is_empty(), "{} pods still listed", listed.len());
            Footprint::read(&a.root())?.ensure_back_to(before)
        },
    )
}
