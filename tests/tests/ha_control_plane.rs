//! A highly available control plane on a real etcd (issue #19): three etcd members and
//! two servers, each in a network namespace of its own, and one joined node
//! (`skiff_e2e::ha`). The leading server is killed with SIGKILL under 30 writes a second:
//! every acknowledged write stays readable, the other server takes the lead within the
//! lease, the node keeps its pods and follows the survivor. One etcd member lost: writes
//! go on. Two lost: 503, and back by itself when they return.
//!
//! ```text
//! cargo build -p skiff-control-plane -p skiff-agent -p skiff
//! CI=true cargo test -p skiff-e2e --test ha_control_plane -- --test-threads=1
//! ```

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use skiff_e2e::cluster::TestControlPlane;
use skiff_e2e::etcd::EtcdCluster;
use skiff_e2e::ha::{etcd_nets, HaCluster, LEADER_LEASE, NODE_NAME};
use skiff_e2e::ha_writes::{Writer, Writes, LABEL};
use skiff_e2e::multinode::{Layout, TestNet};
use skiff_e2e::wait_for;

const WRITES_PER_SECOND: u32 = 30;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ha-web
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: ha-web}
  template:
    metadata:
      labels: {app: ha-web}
    spec:
      containers:
        - name: main
          image: busybox:latest
          command: ["sleep", "3600"]
"#;

/// A pod as the node runs it: uid → (container id, restarts), for the Running pods of
/// `app=ha-web` on the node.
fn running_pods(cluster: &mut HaCluster) -> anyhow::Result<Vec<(String, String, i64)>> {
    let list = cluster.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dha-web")?;
    let mut pods = Vec::new();
    for pod in list["items"].as_array().into_iter().flatten() {
        if pod["status"]["phase"] != "Running" || pod["spec"]["nodeName"] != NODE_NAME {
            continue;
        }
        let status = &pod["status"]["containerStatuses"][0];
        pods.push((
            pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            status["containerID"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            status["restartCount"].as_i64().unwrap_or(-1),
        ));
    }
    pods.sort();
    Ok(pods)
}

fn wait_running(cluster: &mut HaCluster, n: usize) -> anyhow::Result<Vec<(String, String, i64)>> {
    wait_for(
        &format!("{n} ha-web pods Running on the node"),
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            let pods = running_pods(cluster)?;
            if pods.len() == n && pods.iter().all(|(_, id, _)| !id.is_empty()) {
                Ok(pods)
            } else {
                bail!("running: {pods:?}")
            }
        },
    )
}

/// Every acknowledged write is listed by the server at `i`.
fn check_acked_readable(cluster: &mut HaCluster, writes: &Writes) -> anyhow::Result<()> {
    let list = cluster.get(&format!(
        "/api/v1/namespaces/default/configmaps?labelSelector={}",
        LABEL.replace('/', "%2F")
    ))?;
    let present: BTreeSet<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|cm| cm["metadata"]["name"].as_str())
        .collect();
    let missing: Vec<&String> = writes
        .acked
        .iter()
        .filter(|n| !present.contains(n.as_str()))
        .collect();
    ensure!(
        missing.is_empty(),
        "{} of {} acknowledged writes are gone: {missing:?}",
        missing.len(),
        writes.acked.len()
    );
    Ok(())
}

/// Waits until the node's lease is renewed past `before` (its heartbeat reached a server).
fn wait_heartbeat(cluster: &mut HaCluster, what: &str, before: &str) -> anyhow::Result<()> {
    wait_for(
        what,
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            let renew = cluster.node_renew_time()?;
            if renew.as_str() > before {
                Ok(())
            } else {
                bail!("renewTime still {renew}")
            }
        },
    )
}

fn report(phase: &str, writes: &Writes, seconds: f64) {
    eprintln!(
        "{phase}: {} acknowledged ({:.1}/s), {} needed a retry, {} lost, {} refused",
        writes.acked.len(),
        writes.acked.len() as f64 / seconds,
        writes.retried.len(),
        writes.lost.len(),
        writes.refused.len()
    );
}

fn scale(cluster: &mut HaCluster, server: usize, replicas: u32) -> anyhow::Result<()> {
    let reply = cluster.rest(server)?.send(
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/ha-web/scale",
        Some((
            "application/merge-patch+json",
            serde_json::to_vec(&json!({"spec": {"replicas": replicas}}))?,
        )),
        false,
    )?;
    ensure!(reply.code == 200, "scale: {} {}", reply.code, reply.text);
    Ok(())
}

#[test]
fn leader_killed_under_writes_then_etcd_members_lost() {
    HaCluster::run(|cluster| {
        // The first server came up alone: it leads, and keeps leading as the second joins.
        let first_leader = cluster.leader()?;
        ensure!(
            first_leader == cluster.server_id(0)?,
            "the first server does not lead: {first_leader}"
        );
        let apply = cluster.rest(0)?.send(
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            Some(("application/yaml", DEPLOYMENT.as_bytes().to_vec())),
            false,
        )?;
        ensure!(
            apply.code == 201,
            "create the Deployment: {} {}",
            apply.code,
            apply.text
        );
        let before = wait_running(cluster, 1)?;
        // The agent has learned the second server from the `kubernetes` Endpoints.
        let servers_file = cluster.agent().root().join("join/servers");
        let second_url = cluster.server_url(1);
        wait_for(
            "the agent's learned server list",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || {
                let text = std::fs::read_to_string(&servers_file).unwrap_or_default();
                if text.lines().any(|l| l == second_url) {
                    Ok(())
                } else {
                    bail!("{}: {text:?}", servers_file.display())
                }
            },
        )?;

        // -- the leader dies under 30 writes a second --
        let writer = Writer::start(
            vec![cluster.rest(0)?, cluster.rest(1)?],
            WRITES_PER_SECOND,
            "ha-a",
        );
        std::thread::sleep(Duration::from_secs(3));
        let killed_at = Instant::now();
        cluster.servers[0].kill9();
        let renew_before = cluster.node_renew_time()?;
        // The controllers resume on the survivor: a scale after the kill gets its pod.
        scale(cluster, 1, 2)?;
        let survivor = cluster.server_id(1)?;
        let new_leader = wait_for(
            "the survivor holding the leader lease",
            LEADER_LEASE * 3,
            Duration::from_millis(500),
            || {
                let holder = cluster.leader()?;
                if holder == survivor {
                    Ok(holder)
                } else {
                    bail!("held by {holder}")
                }
            },
        )?;
        eprintln!(
            "leader {first_leader} → {new_leader} {:.1?} after the kill",
            killed_at.elapsed()
        );
        let after = wait_running(cluster, 2)?;
        std::thread::sleep(Duration::from_secs(3));
        let seconds = writer.elapsed().as_secs_f64();
        let writes = writer.stop();
        report("leader killed", &writes, seconds);
        ensure!(
            writes.refused.is_empty(),
            "refused writes: {:?}",
            writes.refused
        );
        ensure!(
            writes.lost.is_empty(),
            "writes no server took: {:?}",
            writes.lost
        );
        check_acked_readable(cluster, &writes)?;

        // The node kept its pod (same uid, same container, no restart) and follows the
        // survivor: its heartbeats land there and it stays Ready.
        ensure!(
            after.contains(&before[0]),
            "the pod before the kill {before:?} is not among those after {after:?}"
        );
        ensure!(before[0].2 == 0, "restarts: {before:?}");
        wait_heartbeat(
            cluster,
            "the node's heartbeat through the survivor",
            &renew_before,
        )?;
        ensure!(cluster.node_ready()? == "True", "the node is not Ready");
        let log = cluster.agent().log_text();
        ensure!(
            log.contains("failing over to another control-plane server"),
            "the agent's log says nothing of failing over"
        );

        // An agent restarted while its --server is still down finds the survivor in the
        // list it saved, and adopts its pods again.
        cluster.agent().kill9();
        let renew_before = cluster.node_renew_time()?;
        cluster.agent().launch()?;
        wait_heartbeat(
            cluster,
            "the restarted agent's heartbeat through the survivor",
            &renew_before,
        )?;
        let readopted = wait_running(cluster, 2)?;
        ensure!(
            readopted == after,
            "pods changed across the agent's restart: {after:?} → {readopted:?}"
        );

        // -- one etcd member lost: writes go on, none needs a retry --
        let writer = Writer::start(vec![cluster.rest(1)?], WRITES_PER_SECOND, "ha-b");
        std::thread::sleep(Duration::from_secs(2));
        cluster.etcd.kill(0);
        std::thread::sleep(Duration::from_secs(6));
        let seconds = writer.elapsed().as_secs_f64();
        let writes = writer.stop();
        report("one etcd member killed", &writes, seconds);
        ensure!(
            writes.refused.is_empty(),
            "refused writes: {:?}",
            writes.refused
        );
        ensure!(writes.lost.is_empty(), "lost writes: {:?}", writes.lost);
        // Checked at the end, so the quorum's loss below is exercised either way.
        let interrupted = writes.retried.clone();
        check_acked_readable(cluster, &writes)?;
        cluster.etcd.restart(0)?;

        // -- quorum lost: 503, and back by itself when the members return --
        cluster.etcd.kill(1);
        cluster.etcd.kill(2);
        let rest = cluster.rest(1)?;
        let probe = |name: &str| -> anyhow::Result<u16> {
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default"}});
            Ok(rest
                .post("/api/v1/namespaces/default/configmaps", &body)?
                .code)
        };
        let mut n = 0;
        wait_for(
            "503 without a quorum",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || {
                n += 1;
                match probe(&format!("ha-quorum-{n}"))? {
                    503 => Ok(()),
                    code => bail!("answered {code}"),
                }
            },
        )?;
        cluster.etcd.relaunch(1)?;
        cluster.etcd.relaunch(2)?;
        wait_for(
            "writes again once the members return",
            Duration::from_secs(90),
            Duration::from_millis(500),
            || {
                n += 1;
                match probe(&format!("ha-quorum-{n}"))? {
                    201 => Ok(()),
                    code => bail!("answered {code}"),
                }
            },
        )?;
        ensure!(
            cluster.servers[1].exited().is_none(),
            "the server exited instead of waiting for its store"
        );
        ensure!(
            interrupted.is_empty(),
            "writes interrupted by one etcd member's loss: {interrupted:?}"
        );
        Ok(())
    });
}

/// A server whose etcd is not up yet says so, keeps trying, and serves once it is.
#[test]
fn server_waits_for_an_unreachable_etcd() {
    if !skiff_e2e::require_root_and_tools() || !skiff_e2e::etcd::require_etcd() {
        return;
    }
    let _serial = skiff_e2e::serial();
    let run = || -> anyhow::Result<()> {
        let net = TestNet::create(2, Layout::OneSubnet)?;
        let nets = etcd_nets(&net, 1);
        let endpoint = format!("etcd://{}:{}", nets[0].ip, skiff_e2e::etcd::CLIENT_PORT);
        let mut server = TestControlPlane::spawn_in(
            &net.nodes[1].netns,
            net.nodes[1].ip.into(),
            skiff_e2e::ha::API_PORT,
            &["--store", &endpoint],
        )?;
        // It says what it is waiting for, and keeps waiting.
        wait_for(
            "the server's error about etcd",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || {
                if let Some(status) = server.exited() {
                    return Err(skiff_e2e::fatal(format!(
                        "the server gave up ({status}): {}",
                        server.log()
                    )));
                }
                let log = server.log().to_lowercase();
                if log.contains("etcd") && log.contains("retrying") {
                    Ok(())
                } else {
                    bail!("log: {log}")
                }
            },
        )?;
        std::thread::sleep(Duration::from_secs(3));
        ensure!(
            server.exited().is_none(),
            "the server exited: {}",
            server.log()
        );
        let _etcd = EtcdCluster::start(nets).context("start etcd")?;
        server.wait_serving(Duration::from_secs(90))?;
        let ns: Value =
            serde_json::from_str(&server.skiff(&["get", "ns", "default", "-o", "json"])?)?;
        ensure!(ns["metadata"]["name"] == "default", "{ns}");
        Ok(())
    };
    if let Err(e) = run() {
        panic!("{e:#}");
    }
}
