//! The server on real loopback sockets, asked by a DNS client over UDP and TCP. Names
//! outside the cluster go to an upstream the test runs itself on 127.0.0.1: never the
//! machine's resolvers.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::forward::{read_framed, write_framed};
use super::tests::{endpoints, sample, service};
use super::{DnsConfig, DnsRecords, DnsServer};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A resolver of the test's own on 127.0.0.1, UDP and TCP on one port: `*.example.test`
/// A 192.0.2.<n>, where `big.example.test` has 100 addresses and comes truncated over
/// UDP; other names NXDOMAIN. Counts the queries it gets.
pub(super) struct Upstream {
    pub addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

fn upstream_answer(query: &[u8], tcp: bool) -> Vec<u8> {
    let req = Message::from_vec(query).unwrap();
    let q = req.queries[0].clone();
    let mut msg = Message::response(req.metadata.id, req.metadata.op_code);
    msg.metadata.recursion_desired = req.metadata.recursion_desired;
    msg.metadata.recursion_available = true;
    msg.add_query(q.clone());
    let name = q.name().to_ascii().to_ascii_lowercase();
    let count = match name.as_str() {
        "big.example.test." => 100,
        n if n.ends_with("example.test.") => 1,
        _ => 0,
    };
    if count == 0 {
        msg.metadata.response_code = ResponseCode::NXDomain;
    } else if count > 1 && !tcp {
        msg.metadata.truncation = true;
    } else if q.query_type() == RecordType::A {
        for n in 0..count {
            let data = RData::A(A([192, 0, 2, 10 + n as u8].into()));
            msg.add_answer(Record::from_rdata(q.name().clone(), 60, data));
        }
    }
    msg.to_vec().unwrap()
}

pub(super) async fn start_upstream() -> Upstream {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let queries = Arc::new(AtomicUsize::new(0));
    let counter = queries.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let answer = upstream_answer(&buf[..n], false);
            udp.send_to(&answer, peer).await.unwrap();
        }
    });
    let tcp_task = tokio::spawn(async move {
        loop {
            let (mut stream, _) = tcp.accept().await.unwrap();
            while let Ok(Some(q)) = read_framed(&mut stream).await {
                let answer = upstream_answer(&q, true);
                write_framed(&mut stream, &answer).await.unwrap();
            }
        }
    });
    Upstream {
        addr,
        queries,
        tasks: vec![udp_task, tcp_task],
    }
}

async fn start_server(records: DnsRecords, upstreams: Vec<SocketAddr>) -> DnsServer {
    let config = DnsConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        upstreams,
        forward_timeout: Duration::from_millis(500),
        ..DnsConfig::default()
    };
    DnsServer::start(config, records).await.unwrap()
}

fn query(name: &str, qtype: RecordType, edns: bool) -> Message {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(4096);
        msg.set_edns(e);
    }
    msg
}

async fn ask_udp(server: SocketAddr, msg: &Message) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&msg.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(TIMEOUT, sock.recv_from(&mut buf))
        .await
        .expect("dns answer over udp")
        .unwrap();
    let resp = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(resp.metadata.id, msg.metadata.id);
    resp
}

async fn ask_tcp(server: SocketAddr, msg: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    write_framed(&mut stream, &msg.to_vec().unwrap())
        .await
        .unwrap();
    let bytes = tokio::time::timeout(TIMEOUT, read_framed(&mut stream))
        .await
        .expect("dns answer over tcp")
        .unwrap()
        .expect("an answer before close");
    let resp = Message::from_vec(&bytes).unwrap();
    assert_eq!(resp.metadata.id, msg.metadata.id);
    resp
}

async fn ask(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    ask_udp(server, &query(name, qtype, false)).await
}

fn shown(msg: &Message) -> Vec<String> {
    msg.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => format!("{} A {a}", r.name),
            RData::SRV(s) => format!("{} SRV {} {}", r.name, s.port, s.target),
            RData::CNAME(c) => format!("{} CNAME {}", r.name, c.0),
            RData::PTR(p) => format!("{} PTR {}", r.name, p.0),
            other => format!("{} {other:?}", r.name),
        })
        .collect()
}

#[tokio::test]
async fn cluster_names_answered_over_udp_and_tcp() {
    let server = start_server(sample(), vec![]).await;
    let addr = server.local_addrs()[0];

    let resp = ask(addr, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.metadata.authoritative);
    assert_eq!(
        shown(&resp),
        ["web.default.svc.cluster.local. A 10.43.0.10"]
    );
    assert_eq!(resp.answers[0].ttl, 5);
    let tcp = ask_tcp(
        addr,
        &query("web.default.svc.cluster.local.", RecordType::A, false),
    )
    .await;
    assert_eq!(shown(&tcp), shown(&resp));

    let resp = ask(
        addr,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(
        shown(&resp),
        ["_http._tcp.web.default.svc.cluster.local. SRV 80 web.default.svc.cluster.local."]
    );
    assert_eq!(resp.additionals.len(), 1);

    let resp = ask(addr, "db.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        shown(&resp),
        [
            "db.apps.svc.cluster.local. A 10.42.0.7",
            "db.apps.svc.cluster.local. A 10.42.1.8"
        ]
    );
    let resp = ask(addr, "db-0.db.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        shown(&resp),
        ["db-0.db.apps.svc.cluster.local. A 10.42.0.7"]
    );

    let resp = ask(addr, "10-42-0-9.default.pod.cluster.local.", RecordType::A).await;
    assert_eq!(
        shown(&resp),
        ["10-42-0-9.default.pod.cluster.local. A 10.42.0.9"]
    );

    let resp = ask(addr, "ext.default.svc.cluster.local.", RecordType::CNAME).await;
    assert_eq!(
        shown(&resp),
        ["ext.default.svc.cluster.local. CNAME example.test."]
    );

    // NXDOMAIN and NODATA both carry the zone's SOA, for negative caching.
    let resp = ask(addr, "nope.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    assert!(resp.answers.is_empty());
    assert_eq!(resp.authorities[0].record_type(), RecordType::SOA);
    let resp = ask(addr, "web.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty());
    assert_eq!(resp.authorities[0].record_type(), RecordType::SOA);

    // Reverse lookups of cluster addresses are answered here.
    let resp = ask(addr, "10.0.43.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(
        shown(&resp),
        ["10.0.43.10.in-addr.arpa. PTR web.default.svc.cluster.local."]
    );

    // A query with EDNS gets EDNS back.
    let resp = ask_udp(
        addr,
        &query("web.default.svc.cluster.local.", RecordType::A, true),
    )
    .await;
    assert!(resp.edns.is_some());

    // With nothing upstream, other names fail at once rather than hang.
    let resp = ask(addr, "www.example.test.", RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
    server.shutdown().await;
}

#[tokio::test]
async fn updates_are_seen_by_the_next_query() {
    let records = DnsRecords::new();
    let server = start_server(records.clone(), vec![]).await;
    let addr = server.local_addrs()[0];
    let name = "late.default.svc.cluster.local.";
    let resp = ask(addr, name, RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    records.upsert_service(&service(
        "default",
        "late",
        json!({"clusterIP": "10.43.0.77"}),
    ));
    let resp = ask(addr, name, RecordType::A).await;
    assert_eq!(shown(&resp), [format!("{name} A 10.43.0.77")]);
    records.remove_service("default", "late");
    let resp = ask(addr, name, RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn other_names_are_forwarded_to_the_upstream() {
    let upstream = start_upstream().await;
    let server = start_server(sample(), vec![upstream.addr]).await;
    let addr = server.local_addrs()[0];

    let resp = ask(addr, "www.example.test.", RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(!resp.metadata.authoritative);
    assert_eq!(shown(&resp), ["www.example.test. A 192.0.2.10"]);
    assert_eq!(
        resp.answers[0].ttl, 60,
        "upstream's answer relayed as it is"
    );
    assert_eq!(upstream.queries.load(Ordering::SeqCst), 1);

    let resp = ask(addr, "missing.invalid.", RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);

    // Cluster names never reach the upstream.
    let before = upstream.queries.load(Ordering::SeqCst);
    ask(addr, "nope.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(upstream.queries.load(Ordering::SeqCst), before);

    // Reverse names of addresses the cluster does not know go upstream too.
    let before = upstream.queries.load(Ordering::SeqCst);
    let resp = ask(addr, "4.3.2.1.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(upstream.queries.load(Ordering::SeqCst), before + 1);

    // An ExternalName is chased through the upstream.
    let resp = ask(addr, "ext.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        shown(&resp),
        [
            "ext.default.svc.cluster.local. CNAME example.test.",
            "example.test. A 192.0.2.10"
        ]
    );
}

#[tokio::test]
async fn truncated_upstream_answers_are_fetched_over_tcp() {
    let upstream = start_upstream().await;
    let server = start_server(DnsRecords::new(), vec![upstream.addr]).await;
    let addr = server.local_addrs()[0];

    // 100 addresses fit a 4096-byte EDNS client: fetched over TCP, returned whole.
    let resp = ask_udp(addr, &query("big.example.test.", RecordType::A, true)).await;
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), 100);

    // A plain 512-byte client gets the truncated answer and asks again over TCP.
    let resp = ask(addr, "big.example.test.", RecordType::A).await;
    assert!(resp.metadata.truncation);
    let resp = ask_tcp(addr, &query("big.example.test.", RecordType::A, false)).await;
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), 100);
}

#[tokio::test]
async fn silent_upstream_gives_servfail_and_the_next_one_is_tried() {
    // Bound, never answering.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let server = start_server(DnsRecords::new(), vec![silent_addr]).await;
    let resp = ask(server.local_addrs()[0], "www.example.test.", RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);

    let upstream = start_upstream().await;
    let server = start_server(DnsRecords::new(), vec![silent_addr, upstream.addr]).await;
    let resp = ask(server.local_addrs()[0], "www.example.test.", RecordType::A).await;
    assert_eq!(shown(&resp), ["www.example.test. A 192.0.2.10"]);
    drop(silent);
}

#[tokio::test]
async fn large_headless_answers_are_truncated_over_udp_only() {
    let records = DnsRecords::new();
    records.upsert_service(&service("default", "many", json!({"clusterIP": "None"})));
    let addresses: Vec<_> = (1..=60)
        .map(|n| json!({"ip": format!("10.42.0.{n}")}))
        .collect();
    records.upsert_endpoints(&endpoints(
        "default",
        "many",
        json!([{ "addresses": addresses }]),
    ));
    let server = start_server(records, vec![]).await;
    let addr = server.local_addrs()[0];
    let name = "many.default.svc.cluster.local.";
    let resp = ask(addr, name, RecordType::A).await;
    assert!(resp.metadata.truncation);
    assert!(resp.answers.is_empty());
    let resp = ask_tcp(addr, &query(name, RecordType::A, false)).await;
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), 60);
}

#[tokio::test]
async fn garbage_gets_formerr_or_nothing_and_the_server_keeps_serving() {
    let server = start_server(sample(), vec![]).await;
    let addr = server.local_addrs()[0];
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A header claiming one question that is not there.
    sock.send_to(&[0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0], addr)
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(TIMEOUT, sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let resp = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(resp.metadata.id, 0x1234);
    assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
    sock.send_to(&[1, 2, 3], addr).await.unwrap();
    let resp = ask(addr, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        resp.answers[0].data,
        RData::A(A("10.43.0.10".parse().unwrap()))
    );
}

#[tokio::test]
async fn listen_errors_name_the_address_and_loops_are_refused() {
    let taken = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let config = DnsConfig {
        listen: vec![addr],
        ..DnsConfig::default()
    };
    let err = DnsServer::start(config, DnsRecords::new())
        .await
        .err()
        .expect("port taken");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    let err = DnsServer::start(DnsConfig::default(), DnsRecords::new())
        .await
        .err()
        .expect("no listen address");
    assert!(err.to_string().contains("no listen address"), "{err}");

    // Its own address as upstream would forward to itself forever.
    let port = {
        let probe = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        probe.local_addr().unwrap().port()
    };
    let own: SocketAddr = (IpAddr::from([127, 0, 0, 1]), port).into();
    let config = DnsConfig {
        listen: vec![own],
        upstreams: vec![own],
        ..DnsConfig::default()
    };
    let server = DnsServer::start(config, DnsRecords::new()).await.unwrap();
    let resp = ask(server.local_addrs()[0], "www.example.test.", RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
}

mod pod;
