//! The pod network across nodes against the recording fake: which entries join, change
//! and removal of peers make, DirectRouting, host-gw's unreachable peers, bad peer data.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeSpec, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::fake::{RecordingPodnetOps, FAKE_MAC};
use super::peers::{format_mac, parse_mac};
use super::*;

const UPLINK: &str = "192.168.56.0/24";

fn local(backend: Backend) -> LocalNode {
    LocalNode {
        name: "n1".into(),
        node_ip: "192.168.56.11".parse().unwrap(),
        pod_cidr: "10.42.0.0/24".parse().unwrap(),
        cluster_cidr: "10.42.0.0/16".parse().unwrap(),
        backend,
        vxlan_device: VXLAN_DEVICE.into(),
    }
}

fn peer(name: &str, ip: &str, cidr: &str, mac: u8) -> Peer {
    Peer {
        name: name.into(),
        node_ip: Some(ip.parse().unwrap()),
        pod_cidr: Some(cidr.parse().unwrap()),
        vtep_mac: Some([0x02, 0xaa, 0, 0, 0, mac]),
    }
}

async fn synced(backend: Backend, ops: &Arc<RecordingPodnetOps>) -> PodnetSync {
    let mut sync = PodnetSync::new(ops.clone(), local(backend), "skiff0", 1450);
    sync.ensure_device().await;
    sync
}

#[tokio::test]
async fn vxlan_peers_get_a_route_a_neighbour_and_an_fdb_entry() {
    let ops = Arc::new(RecordingPodnetOps::connected_to(&[UPLINK]));
    let mut sync = synced(Backend::Vxlan, &ops).await;
    assert_eq!(
        ops.take_calls(),
        ["vxlan skiff.1 vni 1 port 8472 local 192.168.56.11 mtu 1450"]
    );
    assert_eq!(sync.vtep_mac(), Some(FAKE_MAC));
    let far = peer("n2", "10.0.7.2", "10.42.1.0/24", 2);
    let report = sync.sync(std::slice::from_ref(&far)).await.unwrap();
    assert_eq!(report.problems, []);
    assert_eq!(
        ops.take_calls(),
        [
            "add fdb 02:aa:00:00:00:02 dst 10.0.7.2",
            "add neigh 10.42.1.0 02:aa:00:00:00:02",
            "add route 10.42.1.0/24 via 10.42.1.0 dev skiff.1 onlink",
        ]
    );
    // The same peers again: nothing to do.
    assert_eq!(sync.sync(&[far]).await.unwrap().added, 0);
    assert_eq!(ops.take_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_peer_on_a_shared_network_gets_a_direct_route_in_both_backends() {
    for backend in [Backend::Vxlan, Backend::HostGw] {
        let ops = Arc::new(RecordingPodnetOps::connected_to(&[UPLINK]));
        let mut sync = synced(backend, &ops).await;
        ops.take_calls();
        let near = peer("n2", "192.168.56.12", "10.42.1.0/24", 2);
        let report = sync.sync(&[near]).await.unwrap();
        assert_eq!(report.problems, [], "{backend:?}");
        assert_eq!(
            ops.take_calls(),
            ["add route 10.42.1.0/24 via 192.168.56.12"],
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn host_gw_reports_a_peer_behind_a_router_and_routes_the_others() {
    let ops = Arc::new(RecordingPodnetOps::connected_to(&[UPLINK]));
    let mut sync = synced(Backend::HostGw, &ops).await;
    let near = peer("n2", "192.168.56.12", "10.42.1.0/24", 2);
    let far = peer("n3", "10.0.7.3", "10.42.2.0/24", 3);
    let report = sync.sync(&[near, far]).await.unwrap();
    assert_eq!(report.problems.len(), 1);
    let p = &report.problems[0];
    assert_eq!(
        (p.peer.as_str(), p.reason.as_str()),
        ("n3", "NoDirectRoute")
    );
    assert!(
        p.message.contains("10.0.7.3") && p.message.contains("vxlan"),
        "{}",
        p.message
    );
    let routes = ops.kernel.lock().unwrap().routes.clone();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes.first().unwrap().via.to_string(), "192.168.56.12");
    let (status, reason, _) = crate::join::pod_network::condition_of(&report.problems);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "NoDirectRoute")
    );
}

#[tokio::test]
async fn address_change_and_removal_replace_and_remove_only_that_peers_entries() {
    let ops = Arc::new(RecordingPodnetOps::connected_to(&[UPLINK]));
    let mut sync = synced(Backend::Vxlan, &ops).await;
    let n2 = peer("n2", "10.0.7.2", "10.42.1.0/24", 2);
    let n3 = peer("n3", "10.0.8.3", "10.42.2.0/24", 3);
    sync.sync(&[n2.clone(), n3.clone()]).await.unwrap();
    ops.take_calls();

    // n2 moves to another address: its FDB entry follows, its route and neighbour stay.
    let moved = Peer {
        node_ip: Some("10.0.9.2".parse().unwrap()),
        ..n2.clone()
    };
    sync.sync(&[moved.clone(), n3.clone()]).await.unwrap();
    assert_eq!(
        ops.take_calls(),
        [
            "del fdb 02:aa:00:00:00:02 dst 10.0.7.2",
            "add fdb 02:aa:00:00:00:02 dst 10.0.9.2",
        ]
    );

    // n2 leaves: its three entries go, n3's stay.
    sync.sync(&[n3]).await.unwrap();
    assert_eq!(
        ops.take_calls(),
        [
            "del route 10.42.1.0/24 via 10.42.1.0 dev skiff.1 onlink",
            "del fdb 02:aa:00:00:00:02 dst 10.0.9.2",
            "del neigh 10.42.1.0 02:aa:00:00:00:02",
        ]
    );
    let k = ops.kernel.lock().unwrap();
    assert_eq!((k.routes.len(), k.neighs.len(), k.fdbs.len()), (1, 1, 1));
}

#[tokio::test]
async fn bad_peer_data_is_reported_and_touches_no_other_route() {
    let ops = Arc::new(RecordingPodnetOps::connected_to(&[UPLINK]));
    let mut sync = synced(Backend::Vxlan, &ops).await;
    ops.take_calls();
    let good = peer("n2", "192.168.56.12", "10.42.1.0/24", 2);
    let cases = [
        // Overlapping ours, another peer's, outside the cluster, our own address.
        peer("n3", "192.168.56.13", "10.42.0.0/23", 3),
        peer("n4", "192.168.56.14", "10.42.1.128/25", 4),
        peer("n5", "192.168.56.15", "0.0.0.0/0", 5),
        peer("n6", "192.168.56.11", "10.42.6.0/24", 6),
        Peer {
            vtep_mac: None,
            ..peer("n7", "10.0.7.7", "10.42.7.0/24", 7)
        },
        Peer {
            node_ip: None,
            ..peer("n8", "10.0.7.8", "10.42.8.0/24", 8)
        },
    ];
    let mut peers = vec![good.clone()];
    peers.extend(cases.iter().cloned());
    let report = sync.sync(&peers).await.unwrap();
    let reasons: BTreeMap<_, _> = report
        .problems
        .iter()
        .map(|p| (p.peer.as_str(), p.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        BTreeMap::from([
            ("n3", "OverlappingPodCIDR"),
            ("n4", "OverlappingPodCIDR"),
            ("n5", "PodCIDROutsideCluster"),
            ("n6", "DuplicateNodeAddress"),
            ("n7", "NoVtep"),
            ("n8", "NoNodeAddress"),
        ])
    );
    assert_eq!(
        ops.take_calls(),
        ["add route 10.42.1.0/24 via 192.168.56.12"]
    );
}

#[tokio::test]
async fn a_restart_adopts_what_is_there_and_removes_only_stale_entries() {
    let ops = Arc::new(RecordingPodnetOps::connected_to(&[UPLINK]));
    let n2 = peer("n2", "10.0.7.2", "10.42.1.0/24", 2);
    let n3 = peer("n3", "10.0.7.3", "10.42.2.0/24", 3);
    synced(Backend::Vxlan, &ops)
        .await
        .sync(&[n2.clone(), n3])
        .await
        .unwrap();
    ops.take_calls();
    // A new agent (same kernel): n3 was deleted while it was down.
    let mut again = synced(Backend::Vxlan, &ops).await;
    again.sync(&[n2]).await.unwrap();
    assert_eq!(
        ops.take_calls(),
        [
            "del route 10.42.2.0/24 via 10.42.2.0 dev skiff.1 onlink",
            "del fdb 02:aa:00:00:00:03 dst 10.0.7.3",
            "del neigh 10.42.2.0 02:aa:00:00:00:03",
        ]
    );
}

#[tokio::test]
async fn a_vxlan_port_in_use_is_reported_and_direct_peers_still_get_routes() {
    let ops = Arc::new(RecordingPodnetOps::connected_to(&[UPLINK]));
    ops.kernel.lock().unwrap().vxlan_error =
        Some("Address in use (UDP port 8472 is in use)".into());
    let mut sync = synced(Backend::Vxlan, &ops).await;
    assert!(sync.vxlan_error().unwrap().contains("8472"));
    let near = peer("n2", "192.168.56.12", "10.42.1.0/24", 2);
    let far = peer("n3", "10.0.7.3", "10.42.2.0/24", 3);
    let report = sync.sync(&[near.clone(), far.clone()]).await.unwrap();
    assert_eq!(
        ops.take_calls(),
        ["add route 10.42.1.0/24 via 192.168.56.12"]
    );
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].reason, "VxlanUnavailable");
    // The port freed: the next sync makes the device and the tunnel entries.
    ops.kernel.lock().unwrap().vxlan_error = None;
    let report = sync.sync(&[near, far]).await.unwrap();
    assert_eq!(report.problems, []);
    assert_eq!(ops.kernel.lock().unwrap().routes.len(), 2);
}

#[tokio::test]
async fn a_failing_route_is_that_peers_problem_only() {
    let ops = Arc::new(RecordingPodnetOps::connected_to(&[UPLINK]));
    ops.kernel
        .lock()
        .unwrap()
        .failing_routes
        .insert("10.42.1.0/24".parse().unwrap());
    let mut sync = synced(Backend::HostGw, &ops).await;
    let report = sync
        .sync(&[
            peer("n2", "192.168.56.12", "10.42.1.0/24", 2),
            peer("n3", "192.168.56.13", "10.42.2.0/24", 3),
        ])
        .await
        .unwrap();
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].peer, "n2");
    assert_eq!(report.problems[0].reason, "RouteFailed");
    assert_eq!(ops.kernel.lock().unwrap().routes.len(), 1);
}

#[tokio::test]
async fn switching_to_host_gw_removes_the_vxlan_device_and_cleanup_removes_everything() {
    let ops = Arc::new(RecordingPodnetOps::connected_to(&[UPLINK]));
    let mut sync = synced(Backend::Vxlan, &ops).await;
    sync.sync(&[
        peer("n2", "10.0.7.2", "10.42.1.0/24", 2),
        peer("n3", "192.168.56.13", "10.42.2.0/24", 3),
    ])
    .await
    .unwrap();
    synced(Backend::HostGw, &ops).await;
    {
        let k = ops.kernel.lock().unwrap();
        assert!(k.device.is_none());
        assert_eq!((k.neighs.len(), k.fdbs.len(), k.routes.len()), (0, 0, 1));
    }
    assert_eq!(remove_all(ops.as_ref(), VXLAN_DEVICE).await.unwrap(), 1);
    assert!(ops.kernel.lock().unwrap().routes.is_empty());
}

fn node(name: &str, annotations: &[(&str, &str)], ip: &str, cidr: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(cidr.into()),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: ip.into(),
            }]),
            ..Default::default()
        }),
    }
}

#[test]
fn nodes_read_as_peers_with_flannels_annotations() {
    let published = backend_annotations(
        Backend::Vxlan,
        "192.168.56.12".parse().unwrap(),
        Some([2, 0xaa, 0, 0, 0, 2]),
    );
    assert_eq!(published[BACKEND_TYPE], "vxlan");
    assert_eq!(published[PUBLIC_IP], "192.168.56.12");
    assert_eq!(
        published[BACKEND_DATA],
        r#"{"VNI":1,"VtepMAC":"02:aa:00:00:00:02"}"#
    );
    let pairs: Vec<(&str, &str)> = published
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let p = peer_of(&node("n2", &pairs, "192.168.56.12", "10.42.1.0/24"));
    assert_eq!(p, peer("n2", "192.168.56.12", "10.42.1.0/24", 2));

    // Garbage is no data: no MAC, no CIDR with host bits, no multicast MAC.
    for data in [
        "nope",
        r#"{"VtepMAC":"ff:ff:ff:ff:ff:ff"}"#,
        r#"{"VtepMAC":"1:2:3"}"#,
        r#"{"VtepMAC":"00:00:00:00:00:00"}"#,
    ] {
        let p = peer_of(&node("n2", &[(BACKEND_DATA, data)], "x", "10.42.1.9/24"));
        assert_eq!(
            (p.vtep_mac, p.pod_cidr, p.node_ip),
            (None, None, None),
            "{data}"
        );
    }
    // Without an InternalIP, flannel's public-ip.
    let p = peer_of(&node("n2", &[(PUBLIC_IP, "10.0.0.5")], "", "10.42.1.0/24"));
    assert_eq!(p.node_ip, Some("10.0.0.5".parse().unwrap()));
    assert_eq!(parse_mac(&format_mac(&FAKE_MAC)), Some(FAKE_MAC));
    assert_eq!(
        backend_annotations(Backend::HostGw, "10.0.0.5".parse().unwrap(), None)[BACKEND_DATA],
        "null"
    );
}

#[test]
fn backend_flag() {
    assert_eq!(Backend::from_flag("vxlan"), Ok(Backend::Vxlan));
    assert_eq!(Backend::from_flag("host-gw"), Ok(Backend::HostGw));
    assert!(Backend::from_flag("udp")
        .unwrap_err()
        .contains("vxlan or host-gw"));
}
