//! Services end to end, through the CLI with the user's manifests verbatim:
//! the control plane allocates, the Endpoints controller follows the Deployment's pods,
//! the joined agent programs its proxy, and traffic reaches the pods.
//!
//! The node gets an address of its own on a link the test creates (not 127.0.0.1, which
//! would need the proxy's `--nodeport-localhost`), so NodePort traffic takes the real
//! path: the host's own connection to `<node-ip>:<nodePort>`. Every scenario runs with
//! the nftables and the iptables backend:
//! - scenarios 4 and 5: NodePort from the host (30 requests see all 3 pods), the
//!   ClusterIP service by name from inside a pod, bad node ports refused;
//! - readiness: a pod failing its probe leaves the rotation and comes back; ClientIP
//!   affinity sticks;
//! - externalTrafficPolicy Local: a client in a namespace of the test's own is seen by the
//!   pod with its own address.
//!
//! DNS names, SRV and ExternalName inside a pod are `cluster_dns.rs`'s.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use skiff_e2e::agent::{find_binary, other_agent_running};
use skiff_e2e::net::{http_get, HostLink, World};
use skiff_e2e::{wait_for, ClusterEnv};

/// The node's address, on a link the test creates.
const NODE_LINK: &str = "skiff-e2e-svc0";
const NODE_IP: &str = "10.253.0.1";

fn manifest(name: &str) -> String {
    ClusterEnv::user_manifest(name)
        .to_str()
        .unwrap_or_default()
        .to_string()
}

/// A cluster whose node has [`NODE_IP`] and the proxy in `mode`; the proxy's rules are
/// cleaned up afterwards, on failure too.
fn run_in(mode: &str, body: impl FnOnce(&mut ClusterEnv) -> anyhow::Result<()>) {
    if !skiff_e2e::require_root_and_tools() {
        return;
    }
    let link = HostLink::create(NODE_LINK, &format!("{NODE_IP}/24"))
        .unwrap_or_else(|e| panic!("creating the node link: {e:#}"));
    let _cleanup = Cleanup {
        iptables: mode == "iptables",
        _link: link,
    };
    ClusterEnv::run_with_args(&[], &["--node-ip", NODE_IP, "--proxy-mode", mode], body);
}

/// Dropped after the cluster (whose own drop stops the agent): removes the node link and,
/// in iptables mode, the proxy's chains, which the harness' nft sweep does not cover.
struct Cleanup {
    iptables: bool,
    _link: HostLink,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // `cleanup` also takes the pod bridge down: only when no other suite's agent runs.
        if self.iptables && !other_agent_running() {
            if let Ok(agent) = find_binary("skiff-agent") {
                let _ = Command::new(agent).arg("cleanup").output();
            }
        }
    }
}

/// One HTTP GET over a fresh connection; the body.
/// The first answer of `addr` (the rules may still be on their way): its body.
fn answering(what: &str, addr: &str) -> anyhow::Result<String> {
    wait_for(
        what,
        Duration::from_secs(30),
        Duration::from_millis(300),
        || http_get(addr),
    )
}

/// The deployment's pods, once all 3 run and are ready: their names.
fn ready_webservers(env: &ClusterEnv) -> anyhow::Result<BTreeSet<String>> {
    wait_for(
        "3 webserver pods Running and Ready",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            let list: Value = serde_json::from_str(&env.cp.skiff(&[
                "get",
                "pods",
                "-l",
                "app=webserver",
                "-o",
                "json",
            ])?)?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            let ready: BTreeSet<String> = items
                .iter()
                .filter(|p| {
                    p["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
                .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
                .collect();
            if ready.len() == 3 {
                Ok(ready)
            } else {
                bail!("ready: {ready:?} of {} pods", items.len())
            }
        },
    )
}

/// Waits until `get ep NAME` lists `n` ready addresses.
fn endpoints_with(env: &ClusterEnv, name: &str, n: usize) -> anyhow::Result<Value> {
    wait_for(
        "the endpoints",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let ep = env.cp.get_json("endpoints", name)?;
            let count: usize = ep["subsets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["addresses"].as_array().map_or(0, Vec::len))
                .sum();
            if count == n {
                Ok(ep)
            } else {
                bail!("{count} ready addresses: {ep}")
            }
        },
    )
}

/// GETs `addr` up to `tries` times until every pod in `pods` answered; the answers.
fn spread(addr: &str, pods: &BTreeSet<String>, tries: usize) -> anyhow::Result<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    for _ in 0..tries {
        let body = http_get(addr)?;
        let pod = body
            .strip_prefix("Hello, ")
            .unwrap_or(&body)
            .trim()
            .to_string();
        ensure!(
            pods.contains(&pod),
            "{addr} answered {body:?}, not one of {pods:?}"
        );
        seen.insert(pod);
    }
    Ok(seen)
}

fn node_port_scenario(env: &mut ClusterEnv) -> anyhow::Result<()> {
    let cp = &env.cp;
    cp.skiff(&["apply", "-f", &manifest("hostname-deployment.yaml")])?;
    let applied = cp.skiff(&["apply", "-f", &manifest("hostname-svc-nodeport.yaml")])?;
    ensure!(
        applied.contains("service/hostname-svc-nodeport created"),
        "{applied}"
    );
    let svc = cp.get_json("svc", "hostname-svc-nodeport")?;
    let node_port = svc["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .context("no nodePort")?;
    ensure!((30000..=32767).contains(&node_port), "{svc}");
    let table = cp.skiff(&["get", "svc"])?;
    let row = table
        .lines()
        .find(|l| l.starts_with("hostname-svc-nodeport"))
        .with_context(|| format!("no row in\n{table}"))?;
    let cluster_ip = svc["spec"]["clusterIP"].as_str().unwrap_or_default();
    ensure!(
        row.contains("NodePort")
            && row.contains(cluster_ip)
            && row.contains(&format!("8080:{node_port}/TCP")),
        "get svc:\n{table}"
    );

    let pods = ready_webservers(env)?;
    endpoints_with(env, "hostname-svc-nodeport", 3)?;
    let ep_table = env.cp.skiff(&["get", "ep", "hostname-svc-nodeport"])?;
    ensure!(ep_table.matches(":80").count() == 3, "get ep:\n{ep_table}");

    // From the host to the node's address: 30 requests see all 3 pods.
    let addr = format!("{NODE_IP}:{node_port}");
    let seen = answering("the node port answering", &addr)?;
    ensure!(seen.starts_with("Hello, "), "{addr}: {seen}");
    let spread = spread(&addr, &pods, 30)?;
    ensure!(
        spread == pods,
        "30 requests to {addr} saw {spread:?} of {pods:?}"
    );

    // Bad input: a taken node port and one out of range are refused, naming why;
    // the working service is untouched.
    let taken = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: thief\nspec:\n  type: NodePort\n  selector:\n    app: webserver\n  ports:\n    - port: 80\n      nodePort: {node_port}\n"
    );
    let out = env
        .cp
        .skiff_output(&["apply", "-f", &write(env, "thief.yaml", &taken)?])?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success()
            && err.contains("already allocated")
            && err.contains("default/hostname-svc-nodeport"),
        "taken: {err}"
    );
    let far = taken.replace(&format!("nodePort: {node_port}"), "nodePort: 40000");
    let out = env
        .cp
        .skiff_output(&["apply", "-f", &write(env, "far.yaml", &far)?])?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && err.contains("30000-32767"),
        "out of range: {err}"
    );
    ensure!(
        http_get(&addr)?.starts_with("Hello, "),
        "the service still answers"
    );

    // Scenario 4: from inside a pod, by the service's name (cluster DNS, then the
    // cluster IP through the proxy), answered by all 3 pods, with the notes' own
    // `wget -qO-`. Bounded by busybox `timeout`, not `wget -T`: Debian's busybox-static
    // wget dies with SIGSEGV (exit 139) whenever `-T` is given.
    env.cp
        .skiff(&["apply", "-f", &manifest("hostname-svc-clusterip.yaml")])?;
    endpoints_with(env, "hostname-svc-clusterip", 3)?;
    let client = pods.iter().next().cloned().unwrap_or_default();
    let target = "hostname-svc-clusterip:8080";
    let request = "timeout 5 wget -qO- hostname-svc-clusterip:8080";
    let mut seen = BTreeSet::new();
    wait_for(
        "the cluster IP answering from a pod, from all 3 pods",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let body = env
                .cp
                .skiff(&["exec", &client, "--", "sh", "-c", request])?;
            let last = body.trim().lines().last().unwrap_or_default();
            let pod = last.strip_prefix("Hello, ").unwrap_or(last).to_string();
            ensure!(pods.contains(&pod), "{target} answered {body:?}");
            seen.insert(pod);
            if seen == pods {
                Ok(())
            } else {
                bail!("seen {seen:?}")
            }
        },
    )?;

    // Deleting the service releases its node port: a new service may take it.
    env.cp.skiff(&["delete", "svc", "hostname-svc-nodeport"])?;
    wait_for(
        "the released node port taken again",
        Duration::from_secs(30),
        Duration::from_millis(300),
        || {
            env.cp
                .skiff(&["apply", "-f", &write(env, "thief.yaml", &taken)?])
        },
    )?;
    Ok(())
}

fn write(env: &ClusterEnv, name: &str, yaml: &str) -> anyhow::Result<String> {
    let path = env.cp.scratch().join(name);
    std::fs::write(&path, yaml)?;
    Ok(path.to_string_lossy().into_owned())
}

#[test]
fn node_port_and_cluster_ip_reach_every_pod_nftables() {
    run_in("nftables", node_port_scenario);
}

#[test]
fn node_port_and_cluster_ip_reach_every_pod_iptables() {
    run_in("iptables", node_port_scenario);
}

/// Three echo pods, ready unless `/tmp/unready` exists (checked every second, two
/// failures to leave), behind a NodePort service and a ClientIP-affinity one.
const PROBED: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: probed
spec:
  replicas: 3
  selector:
    matchLabels:
      app: probed
  template:
    metadata:
      labels:
        app: probed
    spec:
      containers:
        - name: web
          image: alicek106/rr-test:echo-hostname
          ports:
            - containerPort: 80
          readinessProbe:
            exec:
              command: [\"sh\", \"-c\", \"test ! -e /tmp/unready\"]
            periodSeconds: 1
            failureThreshold: 2
---
apiVersion: v1
kind: Service
metadata:
  name: probed
spec:
  type: NodePort
  selector:
    app: probed
  ports:
    - port: 8080
      targetPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: sticky
spec:
  type: NodePort
  sessionAffinity: ClientIP
  selector:
    app: probed
  ports:
    - port: 8080
      targetPort: 80
";

fn node_port_of(env: &ClusterEnv, name: &str) -> anyhow::Result<String> {
    let svc = env.cp.get_json("svc", name)?;
    let port = svc["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .context("no nodePort")?;
    Ok(format!("{NODE_IP}:{port}"))
}

fn pods_of(env: &ClusterEnv, app: &str) -> anyhow::Result<BTreeSet<String>> {
    let list: Value = serde_json::from_str(&env.cp.skiff(&[
        "get",
        "pods",
        "-l",
        &format!("app={app}"),
        "-o",
        "json",
    ])?)?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect())
}

fn readiness_and_affinity_scenario(env: &mut ClusterEnv) -> anyhow::Result<()> {
    let path = write(env, "probed.yaml", PROBED)?;
    env.cp.skiff(&["apply", "-f", &path])?;
    endpoints_with(env, "probed", 3)?;
    let pods = pods_of(env, "probed")?;
    ensure!(pods.len() == 3, "{pods:?}");
    let addr = node_port_of(env, "probed")?;
    answering("the node port answering", &addr)?;

    // One pod fails its readiness probe (periodSeconds 1 × failureThreshold 2): it leaves
    // the rotation within that + 1 s of the failure starting, and no request reaches it
    // afterwards. Requests run the whole time, so this is what a client of the node port
    // sees, not only the Endpoints object.
    let bound = Duration::from_secs(2) + Duration::from_secs(1);
    let failing = pods.iter().next().cloned().unwrap_or_default();
    let mut remaining = pods.clone();
    remaining.remove(&failing);
    // Counted from before `exec` starts, so the exec round trip counts against the bound.
    let failed_at = Instant::now();
    env.cp
        .skiff(&["exec", &failing, "--", "touch", "/tmp/unready"])?;
    let mut last_answer = None;
    let mut after_bound = BTreeSet::new();
    while failed_at.elapsed() < bound + Duration::from_secs(2) {
        let body = http_get(&addr)?;
        let pod = body.strip_prefix("Hello, ").unwrap_or(&body).trim();
        ensure!(pods.contains(pod), "{addr} answered {body:?}");
        if pod == failing {
            last_answer = Some(failed_at.elapsed());
        } else if failed_at.elapsed() > bound {
            after_bound.insert(pod.to_string());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("readiness: {failing} last answered {last_answer:?} after the probe began failing (bound {bound:?})");
    ensure!(
        last_answer.is_none_or(|t| t <= bound),
        "{failing} still answered {last_answer:?} after it began failing readiness (bound {bound:?})"
    );
    ensure!(
        after_bound == remaining,
        "after the bound the node port answered from {after_bound:?}, want {remaining:?}"
    );
    let ep = env.cp.get_json("endpoints", "probed")?;
    let ready: Vec<Value> = ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
        .collect();
    ensure!(
        ready.len() == 2
            && !ready
                .iter()
                .any(|a| a["targetRef"]["name"] == failing.as_str()),
        "endpoints still list {failing}: {ep}"
    );

    // Ready again: back in the rotation.
    env.cp
        .skiff(&["exec", &failing, "--", "rm", "/tmp/unready"])?;
    endpoints_with(env, "probed", 3)?;
    wait_for(
        "the pod back in the rotation",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let seen = spread(&addr, &pods, 30)?;
            ensure!(seen == pods, "saw {seen:?}");
            Ok(())
        },
    )?;

    // ClientIP affinity: the host's requests all land on one pod.
    let sticky = node_port_of(env, "sticky")?;
    let first = answering("the sticky port answering", &sticky)?;
    for _ in 0..20 {
        let again = http_get(&sticky)?;
        ensure!(again == first, "affinity broke: {first:?} then {again:?}");
    }
    Ok(())
}

#[test]
fn readiness_and_client_ip_affinity_nftables() {
    run_in("nftables", readiness_and_affinity_scenario);
}

#[test]
fn readiness_and_client_ip_affinity_iptables() {
    run_in("iptables", readiness_and_affinity_scenario);
}

/// A pod answering with the address its HTTP client came from (busybox httpd's CGI
/// `REMOTE_ADDR`), behind a NodePort with externalTrafficPolicy Local.
const PEER_ECHO: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: peer-echo
  labels:
    app: peer-echo
spec:
  containers:
    - name: web
      image: busybox
      command:
        - sh
        - -c
        - |
          mkdir -p /www/cgi-bin
          printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho "$REMOTE_ADDR"\n' > /www/cgi-bin/peer
          chmod +x /www/cgi-bin/peer
          exec httpd -f -p 80 -h /www
      ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: peer-echo
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector:
    app: peer-echo
  ports:
    - port: 80
"#;

/// `curl` from inside the test's "outside world" namespace ([`World`]), routed to the
/// node through its veth pair.
fn get_from_world(url: &str) -> anyhow::Result<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", World::NS, "curl", "-s", "-m", "5", url])
        .output()?;
    ensure!(
        out.status.success(),
        "curl {url}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn local_policy_scenario(env: &mut ClusterEnv) -> anyhow::Result<()> {
    // The client: the world namespace, with a route to the node's address.
    let _world = World::start()?;
    let route = Command::new("ip")
        .args(["-n", World::NS, "route", "add", "default", "via"])
        .arg(World::HOST_IP.to_string())
        .output()?;
    ensure!(
        route.status.success(),
        "route: {}",
        String::from_utf8_lossy(&route.stderr)
    );
    let path = write(env, "peer-echo.yaml", PEER_ECHO)?;
    env.cp.skiff(&["apply", "-f", &path])?;
    endpoints_with(env, "peer-echo", 1)?;
    let url = format!("http://{}/cgi-bin/peer", node_port_of(env, "peer-echo")?);
    let peer = wait_for(
        "the node port answering the client",
        Duration::from_secs(30),
        Duration::from_millis(300),
        || get_from_world(&url),
    )?;
    // busybox httpd listens on IPv6 too and writes IPv4 peers as `[::ffff:a.b.c.d]`.
    let peer = peer.trim_start_matches("[::ffff:").trim_end_matches(']');
    ensure!(
        peer == World::IP.to_string(),
        "externalTrafficPolicy Local: the pod saw {peer:?}, not the client's {}",
        World::IP
    );
    Ok(())
}

#[test]
fn external_traffic_policy_local_keeps_the_client_address_nftables() {
    run_in("nftables", local_policy_scenario);
}

#[test]
fn external_traffic_policy_local_keeps_the_client_address_iptables() {
    run_in("iptables", local_policy_scenario);
}
