//! Probe attempts over real sockets on 127.0.0.1, against servers the tests start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{
    ContainerPort, ExecAction, GRPCAction, HTTPGetAction, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tonic_health::ServingStatus;

use super::*;
use crate::containerd::container::ExecOutput;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A tiny HTTP/1.1 server: answers by path, remembers the requests it saw.
async fn http_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    // A TLS ClientHello: answer in plain text, the client's TLS fails.
                    if head.first() == Some(&0x16) {
                        let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                        return;
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(head);
                let port = addr.port();
                let (status, extra, body) = match path.as_str() {
                    "/ok" | "/ok?x=1" => ("200 OK", String::new(), "fine"),
                    "/bad" => ("500 Internal Server Error", String::new(), "broken"),
                    "/redir" => ("302 Found", "Location: /ok\r\n".into(), ""),
                    "/away" => (
                        "302 Found",
                        format!("Location: http://localhost:{port}/ok\r\n"),
                        "moved",
                    ),
                    "/loop" => ("302 Found", "Location: /loop\r\n".into(), ""),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        ("200 OK", String::new(), "late")
                    }
                    _ => ("404 Not Found", String::new(), ""),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, seen)
}

fn target(port: u16) -> ProbeTarget {
    ProbeTarget {
        container_id: "c".into(),
        pod_ip: Some(LOCALHOST),
        ports: vec![ContainerPort {
            name: Some("web".into()),
            container_port: i32::from(port),
            ..Default::default()
        }],
    }
}

fn http(path: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("web".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct NoExec;

impl ExecRunner for NoExec {
    fn exec<'a>(
        &'a self,
        _: &'a str,
        _: Vec<String>,
        _: Duration,
    ) -> BoxFuture<'a, Result<ExecOutput, String>> {
        Box::pin(async { Err("no exec here".to_string()) })
    }
}

#[tokio::test]
async fn http_get_status_codes_redirects_and_headers() {
    let (addr, seen) = http_server().await;
    let t = target(addr.port());
    let run = |path: &str| {
        let probe = http(path);
        let t = t.clone();
        async move { check(&probe, &t, &NoExec).await }
    };
    assert_eq!(run("/ok?x=1").await, ProbeOutcome::Success("fine".into()));
    let head = seen.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("get /ok?x=1 http/1.1"), "{head}");
    assert!(head.contains("user-agent: kube-probe/1.33\r\n"), "{head}");
    assert!(head.contains("accept: */*\r\n"), "{head}");

    let bad = run("/bad").await;
    assert_eq!(
        bad,
        ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
    assert_eq!(run("/redir").await, ProbeOutcome::Success("fine".into()));
    let away = run("/away").await;
    assert!(
        matches!(&away, ProbeOutcome::Warning(m) if m.contains("moved")),
        "{away:?}"
    );
    let looped = run("/loop").await;
    assert!(
        matches!(&looped, ProbeOutcome::Failure(m) if m.contains("redirect")),
        "{looped:?}"
    );
    assert!(!run("/missing").await.passed());

    let started = Instant::now();
    let slow = run("/slow").await;
    assert!(matches!(slow, ProbeOutcome::Failure(_)), "{slow:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "timeoutSeconds ignored"
    );

    let mut https = http("/ok");
    https.http_get.as_mut().unwrap().scheme = Some("HTTPS".into());
    // The TLS client starts (no certificate checks to set up) and fails on plain text.
    let tls = check(&https, &t, &NoExec).await;
    assert!(
        matches!(&tls, ProbeOutcome::Failure(m) if !m.contains("deadline")),
        "{tls:?}"
    );

    let unknown_port = check(&http("/ok"), &target(0), &NoExec).await;
    let mut t2 = target(addr.port());
    t2.ports.clear();
    let unnamed = check(&http("/ok"), &t2, &NoExec).await;
    assert!(
        matches!(unknown_port, ProbeOutcome::Error(_)),
        "{unknown_port:?}"
    );
    assert!(matches!(unnamed, ProbeOutcome::Error(_)), "{unnamed:?}");
}

#[tokio::test]
async fn http_get_host_overrides_pod_ip() {
    let (addr, _) = http_server().await;
    let mut probe = http("/ok");
    probe.http_get.as_mut().unwrap().host = Some("127.0.0.1".into());
    let t = ProbeTarget {
        pod_ip: None,
        ..target(addr.port())
    };
    assert!(check(&probe, &t, &NoExec).await.passed());
}

#[tokio::test]
async fn tcp_socket_connects_or_fails() {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String("web".into()),
            host: None,
        }),
        ..Default::default()
    };
    assert!(check(&probe, &target(port), &NoExec).await.passed());
    drop(listener);
    let closed = check(&probe, &target(port), &NoExec).await;
    assert!(
        matches!(&closed, ProbeOutcome::Failure(m) if m.contains("refused")),
        "{closed:?}"
    );
}

#[tokio::test]
async fn grpc_health_check() {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("api", ServingStatus::NotServing)
        .await;
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    let probe = |service: Option<&str>, port: u16| Probe {
        grpc: Some(GRPCAction {
            port: i32::from(port),
            service: service.map(String::from),
        }),
        ..Default::default()
    };
    let t = target(port);
    let serving = check(&probe(None, port), &t, &NoExec).await;
    assert_eq!(serving, ProbeOutcome::Success("service is serving".into()));
    let down = check(&probe(Some("api"), port), &t, &NoExec).await;
    assert!(
        matches!(&down, ProbeOutcome::Failure(m) if m.contains("NOT_SERVING")),
        "{down:?}"
    );
    let unknown = check(&probe(Some("nope"), port), &t, &NoExec).await;
    assert!(matches!(unknown, ProbeOutcome::Failure(_)), "{unknown:?}");

    let (http_addr, _) = http_server().await;
    let not_grpc = check(&probe(None, http_addr.port()), &t, &NoExec).await;
    assert!(matches!(not_grpc, ProbeOutcome::Failure(_)), "{not_grpc:?}");
}

/// An exec runner that always answers the same.
struct Fixed(Result<ExecOutput, String>);

impl ExecRunner for Fixed {
    fn exec<'a>(
        &'a self,
        _: &'a str,
        _: Vec<String>,
        _: Duration,
    ) -> BoxFuture<'a, Result<ExecOutput, String>> {
        let answer = self.0.clone();
        Box::pin(async move { answer })
    }
}

#[tokio::test]
async fn exec_outcomes() {
    let probe = Probe {
        exec: Some(ExecAction {
            command: Some(vec!["check".into()]),
        }),
        ..Default::default()
    };
    let out = |exit_code, timed_out| {
        Fixed(Ok(ExecOutput {
            exit_code,
            output: b"said\n".to_vec(),
            timed_out,
        }))
    };
    let t = target(1);
    assert_eq!(
        check(&probe, &t, &out(0, false)).await,
        ProbeOutcome::Success("said\n".into())
    );
    assert_eq!(
        check(&probe, &t, &out(3, false)).await,
        ProbeOutcome::Failure("said\n".into())
    );
    let timed_out = check(&probe, &t, &out(137, true)).await;
    assert!(matches!(&timed_out, ProbeOutcome::Failure(m) if m.starts_with("command timed out")));
    let broken = check(&probe, &t, &Fixed(Err("gone".into()))).await;
    assert_eq!(broken, ProbeOutcome::Error("gone".into()));
    let empty = Probe {
        exec: Some(ExecAction { command: None }),
        ..Default::default()
    };
    assert!(matches!(
        check(&empty, &t, &NoExec).await,
        ProbeOutcome::Error(_)
    ));
    assert!(matches!(
        check(&Probe::default(), &t, &NoExec).await,
        ProbeOutcome::Error(_)
    ));
}
