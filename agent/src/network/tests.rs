//! `PodNetwork`'s bookkeeping against the recording fake: no root needed.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::fake::{Call, RecordingOps};
use super::*;

const CIDR: &str = "10.42.0.0/24";

fn cfg(dir: &Path) -> NetworkConfig {
    let mut cfg = NetworkConfig::new(CIDR.parse().unwrap(), dir.join("network"));
    cfg.mtu = Some(1450);
    cfg
}

async fn fixture() -> (tempfile::TempDir, Arc<RecordingOps>, PodNetwork) {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(RecordingOps::new());
    let net = PodNetwork::init_with(cfg(dir.path()), ops.clone())
        .await
        .unwrap();
    ops.clear();
    (dir, ops, net)
}

fn ns(uid: &str) -> PathBuf {
    PathBuf::from(format!("/run/skiff/sandboxes/{uid}/net"))
}

#[tokio::test]
async fn init_checks_overlap_then_sets_up_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(RecordingOps::new());
    let net = PodNetwork::init_with(cfg(dir.path()), ops.clone())
        .await
        .unwrap();
    assert_eq!(net.gateway(), "10.42.0.1".parse::<Ipv4Addr>().unwrap());
    assert_eq!(net.mtu(), 1450);
    let calls = ops.calls();
    assert_eq!(calls[0], Call::HostNetworks("skiff0".into()));
    assert_eq!(
        calls[1],
        Call::EnsureBridge(BridgeSpec {
            name: "skiff0".into(),
            gateway: "10.42.0.1".parse().unwrap(),
            prefix_len: 24,
            mtu: 1450,
        })
    );
    assert_eq!(calls[2], Call::EnableForwarding);
    let Call::ApplyNft(script) = &calls[3] else {
        panic!("{calls:?}")
    };
    assert!(script.starts_with("add table ip skiff\n"));
    assert!(script.contains(
        "ip saddr 10.42.0.0/24 ip daddr != 10.42.0.0/24 oifname != \"skiff0\" masquerade"
    ));
    assert_eq!(calls.len(), 4);
}

#[tokio::test]
async fn init_refuses_an_overlapping_cidr() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(RecordingOps::with_networks(vec![HostNetwork {
        iface: "eth0".into(),
        net: "10.0.0.0/8".parse().unwrap(),
        kind: HostNetworkKind::Address,
    }]));
    let err = PodNetwork::init_with(cfg(dir.path()), ops.clone())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, NetworkError::Overlap { .. }));
    assert_eq!(
        err.to_string(),
        "pod CIDR 10.42.0.0/24 overlaps 10.0.0.0/8 (address on eth0)"
    );
    assert!(ops.bridge().is_none(), "nothing is created on refusal");
}

/// An agent killed and started again finds its own VXLAN device holding `<cidr>.0/32`.
#[tokio::test]
async fn init_accepts_its_own_vxlan_address_but_not_others() {
    let dir = tempfile::tempdir().unwrap();
    let own = HostNetwork {
        iface: super::podnet::VXLAN_DEVICE.into(),
        net: "10.42.0.0/32".parse().unwrap(),
        kind: HostNetworkKind::Address,
    };
    let ops = Arc::new(RecordingOps::with_networks(vec![own.clone()]));
    PodNetwork::init_with(cfg(dir.path()), ops).await.unwrap();
    let elsewhere = HostNetwork {
        iface: "eth1".into(),
        ..own
    };
    let ops = Arc::new(RecordingOps::with_networks(vec![elsewhere]));
    let err = PodNetwork::init_with(cfg(dir.path()), ops).await.err();
    assert!(matches!(err, Some(NetworkError::Overlap { .. })), "{err:?}");
}

#[tokio::test]
async fn init_refuses_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(RecordingOps::new());
    let mut bad = cfg(dir.path());
    bad.pod_cidr = "10.42.0.0/31".parse().unwrap();
    assert!(matches!(
        PodNetwork::init_with(bad, ops.clone()).await,
        Err(NetworkError::InvalidCidr { .. })
    ));
    let mut bad = cfg(dir.path());
    bad.pod_cidr = "10.42.0.5/24".parse().unwrap();
    let err = PodNetwork::init_with(bad, ops.clone()).await.err().unwrap();
    assert!(
        err.to_string().contains("did you mean 10.42.0.0/24"),
        "{err}"
    );
    let mut bad = cfg(dir.path());
    bad.nft_table = "skiff; flush ruleset".into();
    assert!(matches!(
        PodNetwork::init_with(bad, ops.clone()).await,
        Err(NetworkError::InvalidConfig(_))
    ));
    let mut bad = cfg(dir.path());
    bad.bridge = "a-name-too-long-for-linux".into();
    assert!(matches!(
        PodNetwork::init_with(bad, ops.clone()).await,
        Err(NetworkError::InvalidConfig(_))
    ));
    assert!(ops.calls().is_empty());
}

#[tokio::test]
async fn setup_allocates_and_creates_the_veth() {
    let (_dir, ops, net) = fixture().await;
    let addr = net.setup("uid-a", &ns("uid-a")).await.unwrap();
    assert_eq!(
        addr,
        PodAddress {
            ip: "10.42.0.2".parse().unwrap(),
            prefix_len: 24,
            gateway: "10.42.0.1".parse().unwrap(),
        }
    );
    assert_eq!(net.address_of("uid-a"), Some(addr.ip));
    assert_eq!(
        ops.calls(),
        vec![Call::CreateVeth(VethSpec {
            host: host_veth_name("uid-a"),
            netns: ns("uid-a"),
            bridge: "skiff0".into(),
            ip: addr.ip,
            prefix_len: 24,
            gateway: addr.gateway,
            mtu: 1450,
        })]
    );
}

#[tokio::test]
async fn setup_again_reuses_a_ready_pod() {
    let (_dir, ops, net) = fixture().await;
    let first = net.setup("uid-a", &ns("uid-a")).await.unwrap();
    ops.clear();
    let again = net.setup("uid-a", &ns("uid-a")).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(
        ops.calls(),
        vec![Call::InspectVeth(host_veth_name("uid-a"))]
    );
}

#[tokio::test]
async fn restart_keeps_addresses_and_veths() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(RecordingOps::new());
    let net = PodNetwork::init_with(cfg(dir.path()), ops.clone())
        .await
        .unwrap();
    let a = net.setup("uid-a", &ns("uid-a")).await.unwrap();
    drop(net);
    // A new agent over the same state directory and host.
    let net = PodNetwork::init_with(cfg(dir.path()), ops.clone())
        .await
        .unwrap();
    assert_eq!(net.address_of("uid-a"), Some(a.ip));
    ops.clear();
    assert_eq!(net.setup("uid-a", &ns("uid-a")).await.unwrap(), a);
    assert!(!ops.calls().iter().any(|c| matches!(c, Call::CreateVeth(_))));
    let b = net.setup("uid-b", &ns("uid-b")).await.unwrap();
    assert_ne!(a.ip, b.ip);
}

#[tokio::test]
async fn a_broken_pod_is_redone_with_its_address() {
    let (_dir, ops, net) = fixture().await;
    let first = net.setup("uid-a", &ns("uid-a")).await.unwrap();
    let host = host_veth_name("uid-a");
    ops.break_veth(&host, "eth0 lacks its address");
    ops.clear();
    assert_eq!(net.setup("uid-a", &ns("uid-a")).await.unwrap(), first);
    let calls = ops.calls();
    assert_eq!(calls[0], Call::InspectVeth(host.clone()));
    assert_eq!(calls[1], Call::DeleteLink(host.clone()));
    assert!(matches!(&calls[2], Call::CreateVeth(v) if v.ip == first.ip));
}

#[tokio::test]
async fn a_missing_veth_after_restart_is_recreated() {
    let (_dir, ops, net) = fixture().await;
    let first = net.setup("uid-a", &ns("uid-a")).await.unwrap();
    ops.delete_link(&host_veth_name("uid-a")).await.unwrap(); // e.g. the node rebooted
    ops.clear();
    assert_eq!(net.setup("uid-a", &ns("uid-a")).await.unwrap(), first);
    assert!(matches!(ops.calls()[1], Call::CreateVeth(_)));
}

#[tokio::test]
async fn failed_setup_releases_a_fresh_address() {
    let (_dir, ops, net) = fixture().await;
    ops.fail_creates(2);
    let err = net.setup("uid-a", &ns("uid-a")).await.unwrap_err();
    assert!(err.to_string().contains("injected failure"));
    assert_eq!(net.address_of("uid-a"), None);
    assert!(ops.veths().is_empty());
    // One retry after re-ensuring the bridge.
    let creates = ops
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::CreateVeth(_)))
        .count();
    assert_eq!(creates, 2);
}

#[tokio::test]
async fn a_deleted_bridge_is_recreated_on_setup() {
    let (_dir, ops, net) = fixture().await;
    ops.remove_bridge();
    net.setup("uid-a", &ns("uid-a")).await.unwrap();
    assert!(ops.bridge().is_some());
    assert_eq!(ops.veths(), vec![host_veth_name("uid-a")]);
}

#[tokio::test]
async fn failed_redo_keeps_the_address_of_a_known_pod() {
    let (_dir, ops, net) = fixture().await;
    let first = net.setup("uid-a", &ns("uid-a")).await.unwrap();
    ops.break_veth(&host_veth_name("uid-a"), "down");
    ops.fail_creates(2);
    assert!(net.setup("uid-a", &ns("uid-a")).await.is_err());
    assert_eq!(net.address_of("uid-a"), Some(first.ip));
}

#[tokio::test]
async fn teardown_is_idempotent() {
    let (_dir, ops, net) = fixture().await;
    net.setup("uid-a", &ns("uid-a")).await.unwrap();
    net.teardown("uid-a").await.unwrap();
    assert!(ops.veths().is_empty());
    assert_eq!(net.address_of("uid-a"), None);
    net.teardown("uid-a").await.unwrap();
    net.teardown("never-seen").await.unwrap();
}

#[tokio::test]
async fn gc_removes_what_dead_pods_left() {
    let (dir, ops, net) = fixture().await;
    for uid in ["live-1", "dead-1", "live-2", "dead-2"] {
        net.setup(uid, &ns(uid)).await.unwrap();
    }
    // A veth on another bridge and a non-skiff port are never touched.
    let mut other = ops.veth(&host_veth_name("dead-2")).unwrap();
    other.host = "sk00000000000".into();
    other.bridge = "docker0".into();
    ops.add_veth(other);
    let mut foreign = ops.veth(&host_veth_name("live-1")).unwrap();
    foreign.host = "vethabc".into();
    ops.add_veth(foreign);
    // An ownerless address file a crash left behind.
    std::fs::write(dir.path().join("network/ipam/10.42.0.0-24/10.42.0.200"), "").unwrap();

    let live: HashSet<String> = ["live-1", "live-2"].iter().map(|s| s.to_string()).collect();
    let report = net.gc(&live).await.unwrap();
    let mut want = vec![host_veth_name("dead-1"), host_veth_name("dead-2")];
    want.sort();
    let mut got = report.deleted_links.clone();
    got.sort();
    assert_eq!(got, want);
    let released: Vec<&str> = report.released.iter().map(|a| a.uid.as_str()).collect();
    assert_eq!(released, vec!["dead-1", "dead-2", ""]);
    let mut left = vec![
        host_veth_name("live-1"),
        host_veth_name("live-2"),
        "sk00000000000".into(),
        "vethabc".to_string(),
    ];
    left.sort();
    assert_eq!(ops.veths(), left);
    assert!(net.address_of("live-1").is_some());
    assert!(net.address_of("dead-1").is_none());
    // Nothing left to collect.
    assert_eq!(net.gc(&live).await.unwrap(), GcReport::default());
}

#[tokio::test]
async fn exhaustion_is_reported_with_the_cidr() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(RecordingOps::new());
    let mut small = cfg(dir.path());
    small.pod_cidr = "10.42.0.0/30".parse().unwrap();
    let net = PodNetwork::init_with(small, ops.clone()).await.unwrap();
    net.setup("a", &ns("a")).await.unwrap();
    let err = net.setup("b", &ns("b")).await.unwrap_err();
    assert_eq!(err.to_string(), "no free IP addresses in 10.42.0.0/30");
    assert_eq!(ops.veths().len(), 1);
}

#[tokio::test]
async fn concurrent_setups_get_distinct_addresses() {
    let (_dir, _ops, net) = fixture().await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let net = net.clone();
            tokio::spawn(async move {
                let uid = format!("uid-{i}");
                net.setup(&uid, &ns(&uid)).await.unwrap().ip
            })
        })
        .collect();
    let mut ips = HashSet::new();
    for t in tasks {
        assert!(ips.insert(t.await.unwrap()));
    }
    assert_eq!(ips.len(), 50);
}

#[tokio::test]
async fn cluster_cidr_reaches_the_nft_rules() {
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(RecordingOps::new());
    let mut c = cfg(dir.path());
    c.cluster_cidr = Some("10.42.0.0/16".parse().unwrap());
    c.nft_table = "skiff_test".into();
    c.bridge = "sktest0".into();
    PodNetwork::init_with(c, ops.clone()).await.unwrap();
    let script = ops
        .calls()
        .into_iter()
        .find_map(|c| match c {
            Call::ApplyNft(s) => Some(s),
            _ => None,
        })
        .unwrap();
    assert!(script.contains("add rule ip skiff_test postrouting ip saddr 10.42.0.0/24 ip daddr != 10.42.0.0/16 oifname != \"sktest0\" masquerade"));
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<PodNetwork>();
}
