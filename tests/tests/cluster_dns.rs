//! Cluster DNS on a joined node: a real pod gets the Kubernetes resolv.conf (the node's
//! DNS on the bridge gateway, the search path, ndots:5), an unknown cluster name is
//! NXDOMAIN, and an outside name is forwarded to the node's resolver: here one the test
//! runs itself on 127.0.0.153:53, handed to the agent with `--resolv-conf`, so nothing
//! reaches the machine's real resolvers.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use skiff_e2e::pods::{phase, shell_pod};
use skiff_e2e::{wait_for, ClusterEnv};

const UPSTREAM: &str = "127.0.0.153:53";

/// A resolver on [`UPSTREAM`]: `www.example.test` A 192.0.2.10, anything else NXDOMAIN.
struct Upstream {
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    fn start() -> anyhow::Result<Self> {
        let sock = UdpSocket::bind(UPSTREAM).with_context(|| format!("bind {UPSTREAM}"))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let (stop2, queries2) = (stop.clone(), queries.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                queries2.fetch_add(1, Ordering::SeqCst);
                let _ = sock.send_to(&answer(&query), peer);
            }
        });
        Ok(Upstream {
            stop,
            queries,
            thread: Some(thread),
        })
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(query: &Message) -> Vec<u8> {
    let mut msg = Message::response(query.metadata.id, query.metadata.op_code);
    msg.metadata.recursion_desired = query.metadata.recursion_desired;
    msg.metadata.recursion_available = true;
    msg.add_queries(query.queries.iter().cloned());
    match query.queries.first() {
        Some(q)
            if q.name()
                .to_ascii()
                .eq_ignore_ascii_case("www.example.test.") =>
        {
            if q.query_type() == RecordType::A {
                let data = RData::A(A([192, 0, 2, 10].into()));
                msg.add_answer(Record::from_rdata(q.name().clone(), 60, data));
            }
        }
        _ => msg.metadata.response_code = ResponseCode::NXDomain,
    }
    msg.to_vec().unwrap_or_default()
}

#[test]
fn pods_resolve_through_the_nodes_cluster_dns() {
    if !skiff_e2e::require_root_and_tools() {
        return;
    }
    let upstream = Upstream::start().expect("test resolver on 127.0.0.153:53");
    let dir = tempfile::tempdir().expect("tempdir");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.153\n").expect("write resolv.conf");
    let resolv_arg = resolv.to_str().unwrap_or_default().to_string();
    ClusterEnv::run_with_args(&[], &["--resolv-conf", &resolv_arg], |env| {
        let script = "cat /etc/resolv.conf; echo ==; nslookup www.example.test; echo ==; \
                      nslookup nope.default.svc.cluster.local; echo ==; sleep 3600";
        env.cp.apply_yaml(
            "dns-client",
            &shell_pod("dns-client", "busybox", script, ""),
        )?;
        let pod = wait_for(
            "dns-client Running",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || {
                let pod = env.cp.get_json("pod", "dns-client")?;
                if phase(&pod) == "Running" {
                    Ok(pod)
                } else {
                    bail!("status: {}", pod["status"])
                }
            },
        )?;
        let pod_ip = pod["status"]["podIP"].as_str().unwrap_or_default();
        let gateway = match pod_ip.rsplit_once('.') {
            Some((net, _)) => format!("{net}.1"),
            None => bail!("pod IP {pod_ip:?}"),
        };
        let log = env.node.agent.log_file(&pod, "main")?;
        let out = wait_for(
            "the pod's lookups done",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || {
                let out = std::fs::read_to_string(&log)?;
                if out.matches("==").count() >= 3 {
                    Ok(out)
                } else {
                    bail!("log so far: {out}")
                }
            },
        )?;
        let parts: Vec<&str> = out.split("==").collect();
        let want = format!(
            "nameserver {gateway}\nsearch default.svc.cluster.local svc.cluster.local \
             cluster.local\noptions ndots:5\n"
        );
        anyhow::ensure!(
            parts[0] == want,
            "resolv.conf: {:?}, want {want:?}",
            parts[0]
        );
        anyhow::ensure!(
            parts[1].contains(&format!("Server:\t\t{gateway}"))
                && parts[1].contains("Name:\twww.example.test\nAddress: 192.0.2.10"),
            "forwarded lookup: {}",
            parts[1]
        );
        anyhow::ensure!(
            upstream.queries.load(Ordering::SeqCst) > 0,
            "the test's resolver saw no query"
        );
        anyhow::ensure!(
            parts[2].contains("NXDOMAIN"),
            "unknown cluster name: {}",
            parts[2]
        );
        Ok(())
    });
}
