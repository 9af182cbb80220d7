//! Cluster DNS on a joined node (scenario 8 and the Kubernetes DNS names): a real pod gets the
//! Kubernetes resolv.conf (the node's DNS on the bridge gateway, the search path,
//! ndots:5) and resolves a service by its short name, its named port by SRV, a headless
//! service to the ready pod, and the user's `externalname-svc.yaml` to a CNAME chased to
//! its target; an unknown cluster name is NXDOMAIN, and outside names are forwarded to
//! the node's resolver: here one the test runs itself on 127.0.0.153:53, handed to the
//! agent with `--resolv-conf`, so nothing reaches the machine's real resolvers.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use skiff_e2e::pods::{log_text, phase, shell_pod};
use skiff_e2e::{wait_for, ClusterEnv};

const UPSTREAM: &str = "127.0.0.153:53";

/// A resolver on [`UPSTREAM`]: `www.example.test` A 192.0.2.10, `my.database.com` (the
/// user's ExternalName target) A 192.0.2.20, anything else NXDOMAIN.
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
    let Some(q) = query.queries.first() else {
        return Vec::new();
    };
    let host = match q.name().to_ascii().to_ascii_lowercase().as_str() {
        "www.example.test." => 10,
        "my.database.com." => 20,
        _ => 0,
    };
    if host == 0 {
        msg.metadata.response_code = ResponseCode::NXDomain;
    } else if q.query_type() == RecordType::A {
        let data = RData::A(A([192, 0, 2, host].into()));
        msg.add_answer(Record::from_rdata(q.name().clone(), 60, data));
    }
    msg.to_vec().unwrap_or_default()
}

/// A ClusterIP service with a named port, and a headless one selecting the client pod
/// (whose subdomain names it).
const SERVICES: &str = "apiVersion: v1
kind: Service
metadata:
  name: dns-web
spec:
  selector:
    app: nobody
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: dns-headless
spec:
  clusterIP: None
  selector:
    app: dns-client
  ports:
  - name: http
    port: 8080
";

/// The lookups the client pod repeats every second, each round ended by `==`.
const LOOKUPS: &str = "cat /etc/resolv.conf; echo ==; while true; do \
    nslookup www.example.test; \
    nslookup nope.default.svc.cluster.local; \
    nslookup dns-web; \
    nslookup -type=srv _http._tcp.dns-web.default.svc.cluster.local; \
    nslookup dns-headless.default.svc.cluster.local; \
    nslookup client-0.dns-headless.default.svc.cluster.local; \
    nslookup externalname-svc.default.svc.cluster.local; \
    echo ==; sleep 1; done";

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
        let cp = &env.cp;
        let client = shell_pod(
            "dns-client",
            "busybox",
            LOOKUPS,
            "  hostname: client-0\n  subdomain: dns-headless\n",
        )
        .replace(
            "  name: dns-client\n",
            "  name: dns-client\n  labels:\n    app: dns-client\n",
        );
        cp.apply_yaml("dns-client", &client)?;
        cp.apply_yaml("dns-services", SERVICES)?;
        let manifest = ClusterEnv::user_manifest("externalname-svc.yaml");
        cp.skiff(&["apply", "-f", manifest.to_str().unwrap_or_default()])?;
        let pod = wait_for(
            "dns-client Running",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || {
                let pod = cp.get_json("pod", "dns-client")?;
                if phase(&pod) == "Running" {
                    Ok(pod)
                } else {
                    bail!("status: {}", pod["status"])
                }
            },
        )?;
        let pod_ip = pod["status"]["podIP"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let gateway = match pod_ip.rsplit_once('.') {
            Some((net, _)) => format!("{net}.1"),
            None => bail!("pod IP {pod_ip:?}"),
        };
        let cluster_ip = cp.get_json("service", "dns-web")?["spec"]["clusterIP"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        anyhow::ensure!(!cluster_ip.is_empty(), "dns-web has no clusterIP");
        let log = env.node.agent.log_file(&pod, "main")?;
        let expected = [
            // Forwarded to the node's resolver (the test's).
            format!("Server:\t\t{gateway}"),
            "Name:\twww.example.test\nAddress: 192.0.2.10\n".to_string(),
            "can't find nope.default.svc.cluster.local: NXDOMAIN".to_string(),
            // A short service name through the search path.
            format!("Name:\tdns-web.default.svc.cluster.local\nAddress: {cluster_ip}\n"),
            "_http._tcp.dns-web.default.svc.cluster.local\tservice = 0 100 80 \
             dns-web.default.svc.cluster.local"
                .to_string(),
            // Headless: the ready pod itself.
            format!("Name:\tdns-headless.default.svc.cluster.local\nAddress: {pod_ip}\n"),
            // Its hostname under the service its subdomain names.
            format!("Name:\tclient-0.dns-headless.default.svc.cluster.local\nAddress: {pod_ip}\n"),
            // The user's ExternalName, chased through the node's resolver.
            "externalname-svc.default.svc.cluster.local\tcanonical name = my.database.com"
                .to_string(),
            "Name:\tmy.database.com\nAddress: 192.0.2.20\n".to_string(),
        ];
        let out = wait_for(
            "every lookup answered",
            Duration::from_secs(30),
            Duration::from_millis(500),
            || {
                let out = log_text(&std::fs::read_to_string(&log)?);
                let missing: Vec<&String> = expected
                    .iter()
                    .filter(|e| !out.contains(e.as_str()))
                    .collect();
                if missing.is_empty() {
                    Ok(out)
                } else {
                    let tail: String = out
                        .chars()
                        .rev()
                        .take(3000)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    bail!("missing {missing:?} in the pod's output, last part:\n{tail}")
                }
            },
        )?;
        let resolv_conf = out.split("==").next().unwrap_or_default();
        let want = format!(
            "nameserver {gateway}\nsearch default.svc.cluster.local svc.cluster.local \
             cluster.local\noptions ndots:5\n"
        );
        anyhow::ensure!(
            resolv_conf == want,
            "resolv.conf: {resolv_conf:?}, want {want:?}"
        );
        anyhow::ensure!(
            upstream.queries.load(Ordering::SeqCst) > 0,
            "the test's resolver saw no query"
        );
        Ok(())
    });
}
