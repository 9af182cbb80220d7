//! ClusterIP and NodePort allocation through apply.

use std::collections::BTreeSet;

use super::*;
use crate::resources::allocation::{IP_CLAIM, PORT_CLAIM};

fn cluster_ip(service: &Value) -> String {
    service["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn node_port_of(service: &Value) -> i64 {
    service["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .unwrap_or(0)
}

#[tokio::test]
async fn cluster_ips_come_from_the_cidr_skipping_the_reserved_first_address() {
    let store = store().await;
    let ranges = small_ranges(); // 10.43.0.0/29: .2 .. .6 assignable
    let from = store.current_revision().await.unwrap();
    let releaser = tokio::spawn(crate::controllers::services::release_loop(
        store.clone(),
        Arc::new(SystemClock),
        Some(from),
    ));
    let mut seen = BTreeSet::new();
    for i in 0..5 {
        let svc = apply_svc(
            store.as_ref(),
            &ranges,
            &service(&format!("s{i}"), "ClusterIP", PORT_8080, ""),
        )
        .await
        .unwrap();
        let ip = cluster_ip(&svc);
        assert_eq!(svc["spec"]["clusterIPs"][0], ip.as_str());
        assert!(seen.insert(ip.clone()), "{ip} handed out twice");
    }
    let expected: BTreeSet<String> = (2..=6).map(|i| format!("10.43.0.{i}")).collect();
    assert_eq!(seen, expected);
    let err = apply_svc(
        store.as_ref(),
        &ranges,
        &service("s5", "ClusterIP", PORT_8080, ""),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("no address left in the service CIDR 10.43.0.0/29"),
        "{err}"
    );

    // Released on delete (by the release loop), then reusable.
    delete_svc(store.as_ref(), "s3").await;
    let again = tokio::time::timeout(TIMEOUT, async {
        loop {
            match apply_svc(
                store.as_ref(),
                &ranges,
                &service("s5", "ClusterIP", PORT_8080, ""),
            )
            .await
            {
                Ok(svc) => break svc,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the deleted service's address is released");
    assert!(expected.contains(&cluster_ip(&again)));
    releaser.abort();
}

#[tokio::test]
async fn explicit_cluster_ips_are_honoured_checked_and_immutable() {
    let store = store().await;
    let ranges = Ranges::default();
    let extra = |ip: &str| format!("  clusterIP: {ip}\n");
    let svc = apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "ClusterIP", PORT_8080, &extra("10.43.7.7")),
    )
    .await
    .unwrap();
    assert_eq!(cluster_ip(&svc), "10.43.7.7");
    // Re-applying the same manifest is unchanged; the address stays claimed by "a".
    apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "ClusterIP", PORT_8080, &extra("10.43.7.7")),
    )
    .await
    .unwrap();
    let err = apply_svc(
        store.as_ref(),
        &ranges,
        &service("b", "ClusterIP", PORT_8080, &extra("10.43.7.7")),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("already allocated (to service default/a)"),
        "{err}"
    );
    for (ip, why) in [
        ("10.44.0.9", "not in the valid range"),
        ("10.43.0.1", "reserved for the kubernetes Service"),
        ("banana", "valid IPv4 address"),
    ] {
        let err = apply_svc(
            store.as_ref(),
            &ranges,
            &service("b", "ClusterIP", PORT_8080, &extra(ip)),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains(why), "{ip}: {err}");
        assert!(err.to_string().contains("spec.clusterIP"), "{err}");
    }
    // Immutable on update; leaving it out keeps it.
    let err = apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "ClusterIP", PORT_8080, &extra("10.43.7.8")),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("field is immutable"), "{err}");
    let kept = apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "ClusterIP", PORT_8080, "  sessionAffinity: ClientIP\n"),
    )
    .await
    .unwrap();
    assert_eq!(cluster_ip(&kept), "10.43.7.7");
    // Headless: no address, no claim; ExternalName: none either.
    let headless = apply_svc(
        store.as_ref(),
        &ranges,
        &service("h", "ClusterIP", PORT_8080, &extra("None")),
    )
    .await
    .unwrap();
    assert_eq!(cluster_ip(&headless), "None");
    let external = apply_svc(
        store.as_ref(),
        &ranges,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  type: ExternalName\n  externalName: my.database.com\n",
    )
    .await
    .unwrap();
    assert_eq!(external["spec"].get("clusterIP"), None);
    let (claims, _) = store.list(IP_CLAIM, None).await.unwrap();
    let names: Vec<&str> = claims.iter().map(|c| c.key.name.as_str()).collect();
    assert_eq!(names, ["10.43.7.7"]);
}

#[tokio::test]
async fn node_ports_are_chosen_or_honoured_and_never_shared() {
    let store = store().await;
    let ranges = small_ranges(); // 30000-30002
    let a = apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "NodePort", PORT_8080, ""),
    )
    .await
    .unwrap();
    let chosen = node_port_of(&a);
    assert!((30000..=30002).contains(&chosen), "{a}");
    // Re-applying without nodePort keeps it.
    let again = apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "NodePort", PORT_8080, "  sessionAffinity: ClientIP\n"),
    )
    .await
    .unwrap();
    assert_eq!(node_port_of(&again), chosen);

    let taken = u16::try_from(chosen).unwrap();
    let err = apply_svc(
        store.as_ref(),
        &ranges,
        &service("b", "NodePort", &node_port(taken), ""),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("spec.ports[0].nodePort")
            && text.contains("already allocated (to service default/a)"),
        "{text}"
    );
    let err = apply_svc(
        store.as_ref(),
        &ranges,
        &service("b", "NodePort", &node_port(40000), ""),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("not in the valid range. The range of valid ports is 30000-30002"),
        "{err}"
    );
    // Nothing of the refused applies was written or kept claimed.
    assert!(get_json(store.as_ref(), "Service", "b").await.is_none());
    let (claims, _) = store.list(PORT_CLAIM, None).await.unwrap();
    assert_eq!(claims.len(), 1);
    let (ip_claims, _) = store.list(IP_CLAIM, None).await.unwrap();
    assert_eq!(
        ip_claims.len(),
        1,
        "the refused service's address was given back"
    );

    // An explicit free one, then a change of it frees the old one.
    let free = (30000..=30002).find(|p| i64::from(*p) != chosen).unwrap();
    let b = apply_svc(
        store.as_ref(),
        &ranges,
        &service("b", "NodePort", &node_port(free), ""),
    )
    .await
    .unwrap();
    assert_eq!(node_port_of(&b), i64::from(free));
    let last = (30000..=30002)
        .find(|p| i64::from(*p) != chosen && *p != free)
        .unwrap();
    apply_svc(
        store.as_ref(),
        &ranges,
        &service("b", "NodePort", &node_port(last), ""),
    )
    .await
    .unwrap();
    let c = apply_svc(
        store.as_ref(),
        &ranges,
        &service("c", "NodePort", PORT_8080, ""),
    )
    .await
    .unwrap();
    assert_eq!(
        node_port_of(&c),
        i64::from(free),
        "b's old port was released"
    );
    let err = apply_svc(
        store.as_ref(),
        &ranges,
        &service("d", "NodePort", PORT_8080, ""),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no node port left"), "{err}");
}

#[tokio::test]
async fn concurrent_applies_never_get_the_same_values() {
    let store = store().await;
    let ranges = Ranges {
        service_cidr: "10.43.0.0/28".parse().unwrap(),
        node_ports: 30000..=30015,
    };
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (store, ranges) = (store.clone(), ranges.clone());
            tokio::spawn(async move {
                apply_svc(
                    store.as_ref(),
                    &ranges,
                    &service(&format!("s{i}"), "NodePort", PORT_8080, ""),
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut ips = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for task in tasks {
        let svc = task.await.unwrap();
        assert!(ips.insert(cluster_ip(&svc)));
        assert!(ports.insert(node_port_of(&svc)));
    }
    assert_eq!((ips.len(), ports.len()), (12, 12));
}

#[tokio::test]
async fn a_stale_claim_is_taken_over_only_when_its_holder_is_gone_and_it_is_old() {
    let store = store().await;
    let ranges = Ranges::default();
    // A claim left by a crash between claiming and writing: its holder never existed.
    let old = serde_json::json!({
        "holder": {"namespace": "default", "name": "ghost", "uid": "u-ghost"},
        "claimedAt": jiff::Timestamp::now().as_second() - 3600,
    });
    let key = crate::store::Key::new(PORT_CLAIM, "", "30080");
    store
        .create(
            key.clone(),
            "u-ghost".into(),
            serde_json::to_vec(&old).unwrap(),
        )
        .await
        .unwrap();
    let fresh_key = crate::store::Key::new(PORT_CLAIM, "", "30081");
    let mut fresh = old.clone();
    fresh["claimedAt"] = jiff::Timestamp::now().as_second().into();
    store
        .create(
            fresh_key,
            "u-ghost".into(),
            serde_json::to_vec(&fresh).unwrap(),
        )
        .await
        .unwrap();

    let svc = apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "NodePort", &node_port(30080), ""),
    )
    .await
    .unwrap();
    assert_eq!(node_port_of(&svc), 30080);
    let err = apply_svc(
        store.as_ref(),
        &ranges,
        &service("b", "NodePort", &node_port(30081), ""),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("default/ghost"),
        "an in-flight claim is respected: {err}"
    );
}

#[tokio::test]
async fn a_node_port_service_turned_cluster_ip_gives_its_node_port_back() {
    let store = store().await;
    let ranges = small_ranges();
    let svc = apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "NodePort", PORT_8080, ""),
    )
    .await
    .unwrap();
    let port = node_port_of(&svc);
    let ip = cluster_ip(&svc);
    let now = apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "ClusterIP", PORT_8080, ""),
    )
    .await
    .unwrap();
    assert_eq!(now["spec"]["ports"][0].get("nodePort"), None, "{now}");
    assert_eq!(cluster_ip(&now), ip, "the address stays");
    let (claims, _) = store.list(PORT_CLAIM, None).await.unwrap();
    assert!(claims.is_empty(), "node port {port} released: {claims:?}");
    // An explicit nodePort on a ClusterIP service is still refused by validation.
    let err = apply_svc(
        store.as_ref(),
        &ranges,
        &service("a", "ClusterIP", &node_port(30001), ""),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nodePort"), "{err}");
}
