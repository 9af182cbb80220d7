//! The syncer against the proxy's recording fake and real DNS records.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use serde_json::json;

use super::sync::Syncer;
use super::watch::{Delta, ObjectKey};
use crate::dns::DnsRecords;
use crate::proxy::fake::Call;
use crate::proxy::{Proxier, ProxyConfig, ProxyMode, RecordingExec};

fn service(name: &str, ip: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "selector": {"app": name},
                 "ports": [{"name": "web", "port": 8080, "targetPort": 80, "protocol": "TCP"}]},
    }))
    .unwrap()
}

fn endpoints(name: &str, ips: &[&str]) -> Endpoints {
    let addresses: Vec<_> = ips
        .iter()
        .map(|ip| json!({"ip": ip, "nodeName": "n1"}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "subsets": [{"addresses": addresses, "ports": [{"name": "web", "port": 80, "protocol": "TCP"}]}],
    }))
    .unwrap()
}

fn key(name: &str) -> ObjectKey {
    ("default".into(), name.into())
}

fn syncer() -> (Syncer, Arc<RecordingExec>, DnsRecords) {
    let exec = Arc::new(RecordingExec::default());
    let mut cfg = ProxyConfig::new(
        "n1",
        vec!["10.0.0.1".parse().unwrap()],
        "10.42.0.0/24".parse().unwrap(),
    );
    cfg.mode = ProxyMode::Nftables;
    let proxier = Proxier::with_exec(cfg, exec.clone()).unwrap();
    let records = DnsRecords::new();
    (
        Syncer::new(Some(proxier), Some(records.clone())),
        exec,
        records,
    )
}

fn scripts(exec: &RecordingExec) -> Vec<String> {
    exec.take()
        .into_iter()
        .filter_map(|c| match c {
            Call::Nft(script) => Some(script),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_proxy_waits_for_both_lists_then_follows_changes_and_resyncs_after_a_failure() {
    let (mut syncer, exec, records) = syncer();
    syncer
        .on_services(Delta::Resync(
            [(key("web"), service("web", "10.43.0.10"))].into(),
        ))
        .await;
    assert!(
        scripts(&exec).is_empty(),
        "no proxy write before the endpoints are listed"
    );
    assert!(
        records.read().has_namespace("default"),
        "dns follows at once"
    );
    syncer
        .on_endpoints(Delta::Resync(
            [(key("web"), endpoints("web", &["10.42.0.5"]))].into(),
        ))
        .await;
    let full = scripts(&exec).join("\n");
    assert!(
        full.contains("10.43.0.10") && full.contains("10.42.0.5"),
        "{full}"
    );

    // One change: one write, naming the new endpoint.
    syncer
        .on_endpoints(Delta::Upsert(
            key("web"),
            endpoints("web", &["10.42.0.5", "10.42.0.6"]),
        ))
        .await;
    let one = scripts(&exec);
    assert_eq!(one.len(), 1, "{one:?}");
    assert!(one[0].contains("10.42.0.6"), "{}", one[0]);

    // A failed write is owed as a full resync, done on the next reconnect (or the timer).
    *exec.fail.lock().unwrap() = Some("nft busy".into());
    syncer
        .on_services(Delta::Upsert(key("db"), service("db", "10.43.0.11")))
        .await;
    scripts(&exec);
    syncer.on_services(Delta::Reconnected).await;
    let again = scripts(&exec).join("\n");
    assert!(
        again.contains("10.43.0.11") && again.contains("10.43.0.10"),
        "{again}"
    );

    syncer.on_services(Delta::Remove(key("db"))).await;
    assert!(!scripts(&exec).is_empty(), "a removal is written");
}
