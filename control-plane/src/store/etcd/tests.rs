//! The etcd store against real etcd processes: TLS with client certificates, and a
//! three-member cluster losing a member, then its quorum, then getting it back.
//! (The Store semantics themselves are the conformance suite's, `store/tests`.)

use std::time::{Duration, Instant};

use futures::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::process::{free_port, require_etcd, EtcdMember, EtcdProcess, EtcdServerTls};
use super::{EtcdStore, EtcdTls};
use crate::store::{Key, Store, StoreError};

/// Generous: a step that needs it is broken, not slow.
const STALL: Duration = Duration::from_secs(60);

fn cm(name: &str) -> Key {
    Key::new("ConfigMap", "default", name)
}

/// A CA, etcd's serving certificate for 127.0.0.1, and a client certificate, as files.
fn certificates(dir: &std::path::Path) -> (EtcdServerTls, EtcdTls) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["skiff-control-plane".into()]);
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let server = EtcdServerTls {
        ca: write("ca.pem", &ca_pem),
        cert: write("server.pem", &server_cert),
        key: write("server-key.pem", &server_key),
    };
    let client = EtcdTls::from_files(
        &server.ca,
        Some(&write("client.pem", &client_cert)),
        Some(&write("client-key.pem", &client_key)),
    )
    .unwrap();
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate() {
    if !require_etcd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (server_tls, client_tls) = certificates(dir.path());
    let etcd = EtcdMember::single(dir.path())
        .unwrap()
        .with_tls(server_tls)
        .spawn()
        .unwrap();
    etcd.wait_healthy(STALL).unwrap();
    let endpoint = format!("127.0.0.1:{}", etcd.member.client_addr().port());

    let store = EtcdStore::connect_retrying(
        std::slice::from_ref(&endpoint),
        Some(client_tls.clone()),
        STALL,
    )
    .await
    .expect("TLS with the client certificate");
    let created = store
        .create(cm("a"), "uid-a".into(), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(store.get(&cm("a")).await.unwrap(), Some(created));

    // Without the client certificate etcd refuses; without TLS at all too. The error
    // names the endpoint.
    let anonymous = EtcdTls {
        identity: None,
        ..client_tls
    };
    let refused = EtcdStore::connect(std::slice::from_ref(&endpoint), Some(anonymous)).await;
    assert!(
        matches!(&refused, Err(StoreError::Backend(m)) if m.contains(&endpoint)),
        "{:?}",
        refused.err()
    );
    let plain = EtcdStore::connect(std::slice::from_ref(&endpoint), None).await;
    assert!(
        matches!(&plain, Err(StoreError::Backend(m)) if m.contains(&endpoint)),
        "{:?}",
        plain.err()
    );
}

/// Three members on loopback; returns them and their client endpoints.
fn cluster(dir: &std::path::Path) -> (Vec<EtcdProcess>, Vec<String>) {
    let members: Vec<(String, String, String)> = (0..3)
        .map(|i| {
            (
                format!("m{i}"),
                format!("http://127.0.0.1:{}", free_port().unwrap()),
                format!("http://127.0.0.1:{}", free_port().unwrap()),
            )
        })
        .collect();
    let initial_cluster = members
        .iter()
        .map(|(name, _, peer)| format!("{name}={peer}"))
        .collect::<Vec<_>>()
        .join(",");
    let etcds: Vec<EtcdProcess> = members
        .iter()
        .map(|(name, client, peer)| {
            EtcdProcess::start(&dir.join(name), name, client, peer, &initial_cluster).unwrap()
        })
        .collect();
    for etcd in &etcds {
        etcd.wait_healthy(STALL).unwrap();
    }
    let endpoints = members.into_iter().map(|(_, client, _)| client).collect();
    (etcds, endpoints)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_quorum_is_a_backend_error_and_the_store_recovers_by_itself() {
    if !require_etcd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut etcds, endpoints) = cluster(dir.path());
    let store = EtcdStore::connect(&endpoints, None).await.unwrap();
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch(Some("ConfigMap"), start).await.unwrap();
    let mut written = vec![];

    // One member down: the other two are a quorum; writes go on.
    etcds[1].kill();
    for i in 0..10 {
        let name = format!("one-down-{i}");
        let object = retry_until_written(&store, &name).await;
        written.push(object);
    }

    // Two down: no quorum. Requests fail with Backend (the API's 503), they do not hang.
    etcds[2].kill();
    let began = Instant::now();
    let lost = tokio::time::timeout(
        STALL,
        store.create(cm("no-quorum"), "u".into(), b"{}".to_vec()),
    )
    .await
    .expect("a write without quorum answers");
    let lost = match lost {
        Err(StoreError::Backend(message)) => message,
        Ok(_) => panic!("a write was acknowledged without a quorum"),
        Err(other) => panic!("unexpected {other:?}"),
    };
    eprintln!("without quorum after {:?}: {lost}", began.elapsed());

    // The members come back (same data dirs): the same store serves again, and the watch
    // that lived through the outage delivers every write, in order.
    for i in [1, 2] {
        let member = etcds[i].member.clone();
        etcds[i] = member.spawn().unwrap();
    }
    for i in 0..5 {
        written.push(retry_until_written(&store, &format!("after-{i}")).await);
    }
    // The write that timed out was never acknowledged, but its proposal may sit in the
    // surviving member's log and commit when the quorum returns (as with any etcd
    // client): if it did, the watch shows it in its place.
    if let Some(late) = store.get(&cm("no-quorum")).await.unwrap() {
        eprintln!(
            "the unacknowledged write committed later, at {}",
            late.revision
        );
        written.push(late);
        written.sort_by_key(|o| o.revision);
    }
    let mut seen = vec![];
    while seen.len() < written.len() {
        let event = tokio::time::timeout(STALL, watch.next())
            .await
            .expect("the watch delivers after the outage")
            .expect("the watch goes on")
            .expect("no error");
        seen.push(event.object);
    }
    assert_eq!(seen, written);
}

/// Creates `name`, retrying while etcd answers Backend (a member just went away, or the
/// quorum is coming back); `AlreadyExists` after a retry means an earlier try committed.
async fn retry_until_written(store: &EtcdStore, name: &str) -> crate::store::Stored {
    tokio::time::timeout(STALL, async {
        loop {
            match store
                .create(cm(name), format!("uid-{name}"), b"{}".to_vec())
                .await
            {
                Ok(object) => return object,
                Err(StoreError::AlreadyExists(key)) => {
                    return store.get(&key).await.unwrap().unwrap();
                }
                Err(StoreError::Backend(e)) => {
                    eprintln!("retrying {name}: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("etcd serves again")
}

/// Two servers (two clients) on one etcd: each sees the other's writes in its watches,
/// and of two creates of one key (a claim) exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_etcd() {
    if !require_etcd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdProcess::start_single(dir.path()).unwrap();
    let endpoints = [etcd.client_url().to_string()];
    let a = EtcdStore::connect(&endpoints, None).await.unwrap();
    let b = EtcdStore::connect(&endpoints, None).await.unwrap();

    let from = b.current_revision().await.unwrap();
    let mut b_watch = b.watch(Some("ConfigMap"), from).await.unwrap();
    let written = a
        .create(cm("from-a"), "uid-a".into(), b"{}".to_vec())
        .await
        .unwrap();
    let seen = tokio::time::timeout(STALL, b_watch.next())
        .await
        .expect("b's watch sees a's write")
        .unwrap()
        .unwrap();
    assert_eq!(seen.object, written);

    for round in 0..20 {
        let claim = Key::new("ServiceIPClaim", "", format!("10.43.0.{round}"));
        let (ra, rb) = tokio::join!(
            a.create(claim.clone(), "uid-a".into(), b"{}".to_vec()),
            b.create(claim.clone(), "uid-b".into(), b"{}".to_vec()),
        );
        let winners = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {ra:?} {rb:?}");
        let loser = if ra.is_ok() { rb } else { ra };
        assert_eq!(loser, Err(StoreError::AlreadyExists(claim)));
    }
}
