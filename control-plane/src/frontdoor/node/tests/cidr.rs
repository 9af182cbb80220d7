//! Pod CIDR allocation: distinct, stable, derived from the store (so it survives a
//! restart), refused clearly when the cluster CIDR is used up.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use ipnet::Ipv4Net;
use tonic::Code;

use super::{csr, node_object, Fixture};
use crate::core::ClusterConfig;
use crate::frontdoor::node::register::register;
use crate::resources::allocation::cidr::{choose, stored_cidrs, CidrError};
use crate::store::MemoryStore;

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

#[test]
fn the_rule_keeps_own_ranges_and_fills_the_lowest_gap() {
    let cluster = net("10.42.0.0/16");
    let mut assigned = BTreeMap::new();
    assigned.insert("a".to_string(), net("10.42.0.0/24"));
    assigned.insert("c".to_string(), net("10.42.2.0/24"));
    assert_eq!(choose(cluster, "a", &assigned), Ok(net("10.42.0.0/24")));
    assert_eq!(choose(cluster, "b", &assigned), Ok(net("10.42.1.0/24")));
    assert_eq!(choose(cluster, "c", &assigned), Ok(net("10.42.2.0/24")));

    // A range outside the cluster CIDR (the flag changed) or of the wrong size is replaced.
    assigned.insert("d".to_string(), net("10.99.0.0/24"));
    assert_eq!(choose(cluster, "d", &assigned), Ok(net("10.42.1.0/24")));
    assigned.insert("d".to_string(), net("10.42.7.0/25"));
    assert_eq!(choose(cluster, "d", &assigned), Ok(net("10.42.1.0/24")));

    // Two nodes claiming one range (written by hand): the first by name keeps it.
    assigned.insert("e".to_string(), net("10.42.2.0/24"));
    assert_eq!(choose(cluster, "c", &assigned), Ok(net("10.42.2.0/24")));
    assert_eq!(choose(cluster, "e", &assigned), Ok(net("10.42.1.0/24")));
}

#[test]
fn the_rule_says_when_the_cluster_cidr_is_used_up_or_too_small() {
    let cluster = net("10.42.0.0/23");
    let mut assigned = BTreeMap::new();
    assigned.insert("a".to_string(), net("10.42.0.0/24"));
    assigned.insert("b".to_string(), net("10.42.1.0/24"));
    let err = choose(cluster, "c", &assigned).unwrap_err();
    assert_eq!(
        err,
        CidrError::Exhausted {
            cluster,
            prefix: 24,
            total: 2
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("no free /24 left in cluster CIDR 10.42.0.0/23"),
        "{text}"
    );
    assert!(text.contains("--cluster-cidr"), "{text}");
    // The holders themselves still get theirs.
    assert_eq!(choose(cluster, "b", &assigned), Ok(net("10.42.1.0/24")));

    let err = choose(net("10.42.0.0/25"), "a", &BTreeMap::new()).unwrap_err();
    assert!(matches!(err, CidrError::TooSmall { .. }), "{err}");
}

#[tokio::test]
async fn registration_assigns_distinct_ranges_kept_across_reregistration_and_restart() {
    let fx = Fixture::new();
    let a = fx.register("n1").await.pod_cidr;
    let b = fx.register("n2").await.pod_cidr;
    let c = fx.register("n3").await.pod_cidr;
    assert_eq!(
        [a, b, c],
        [
            net("10.42.0.0/24"),
            net("10.42.1.0/24"),
            net("10.42.2.0/24")
        ]
    );
    assert_eq!(fx.register("n2").await.pod_cidr, b, "re-register keeps it");

    let spec = fx.node("n2").await.spec.unwrap();
    assert_eq!(spec.pod_cidr.as_deref(), Some("10.42.1.0/24"));
    assert_eq!(spec.pod_cidrs, Some(vec!["10.42.1.0/24".to_string()]));

    // A new control plane over the same store: nothing in memory, same answers.
    let restarted = fx.restart();
    assert_eq!(restarted.register("n1").await.pod_cidr, a);
    assert_eq!(restarted.register("n4").await.pod_cidr, net("10.42.3.0/24"));

    // A deleted node's range is free again, for the next new node.
    fx.store()
        .delete(&crate::core::objects::node_key("n2"), None)
        .await
        .unwrap();
    assert_eq!(restarted.register("n5").await.pod_cidr, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_never_share_a_range() {
    let fx = Arc::new(Fixture::new());
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let fx = fx.clone();
            tokio::spawn(async move { fx.register(&format!("node-{i}")).await.pod_cidr })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        assert!(
            seen.insert(task.await.unwrap()),
            "a range was handed out twice"
        );
    }
    let stored = stored_cidrs(fx.store()).await.unwrap();
    assert_eq!(stored.len(), 24);
    assert_eq!(stored.values().collect::<HashSet<_>>().len(), 24);
}

#[tokio::test]
async fn an_exhausted_cluster_cidr_refuses_the_next_node_clearly() {
    let config = ClusterConfig {
        cluster_cidr: net("10.42.0.0/23"),
        ..super::config()
    };
    let fx = Fixture::with(config, Arc::new(MemoryStore::new()));
    fx.register("n1").await;
    fx.register("n2").await;
    let node = node_object("n3", &[], "1", "1Gi");
    let err = register(&fx.ctx, &fx.cidrs, &fx.token(), Some(&node), &csr("n3"))
        .await
        .unwrap_err();
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("no free /24"), "{status}");
    assert!(
        fx.store()
            .get(&crate::core::objects::node_key("n3"))
            .await
            .unwrap()
            .is_none(),
        "no node without a range"
    );
    // Existing nodes still re-register.
    assert_eq!(fx.register("n1").await.pod_cidr, net("10.42.0.0/24"));
}
