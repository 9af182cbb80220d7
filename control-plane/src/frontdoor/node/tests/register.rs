//! Register and Heartbeat below the gRPC layer.

use k8s_openapi::api::coordination::v1::Lease;
use tonic::{Code, Status};

use super::{csr, node_object, Fixture};
use crate::core::objects::{decode, lease_key, node_condition, node_key};
use crate::core::Clock;
use crate::core::Error;
use crate::frontdoor::node::heartbeat::heartbeat;
use crate::frontdoor::node::register::register;
use skiff_proto::auth::Caller;

#[tokio::test]
async fn a_wrong_token_is_refused_without_saying_why() {
    let fx = Fixture::new();
    let node = node_object("n1", &[], "1", "1Gi");
    let real = fx.token();
    let (prefix, _secret) = real.rsplit_once(':').unwrap();
    for token in [
        String::new(),
        "garbage".to_string(),
        format!("{prefix}:wrong-secret"),
        real.replacen("K10", "K10ff", 1),
    ] {
        let err = register(&fx.ctx, &fx.cidrs, &token, Some(&node), &csr("n1"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unauthenticated(_)), "{token:?}: {err}");
        let status = Status::from(err);
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "invalid node token");
    }
    assert!(fx.store().get(&node_key("n1")).await.unwrap().is_none());
}

#[tokio::test]
async fn bad_names_and_csrs_are_invalid_arguments() {
    let fx = Fixture::new();
    for name in ["N1", "a_b", "-x", ""] {
        let node = node_object(name, &[], "1", "1Gi");
        let err = register(&fx.ctx, &fx.cidrs, &fx.token(), Some(&node), &csr("x"))
            .await
            .unwrap_err();
        assert_eq!(Status::from(err).code(), Code::InvalidArgument, "{name:?}");
    }
    // The envelope and metadata.name disagree.
    let mut node = node_object("n1", &[], "1", "1Gi");
    node.name = "n2".into();
    let err = register(&fx.ctx, &fx.cidrs, &fx.token(), Some(&node), &csr("n1"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("differs"), "{err}");
    // A CSR for another node.
    let node = node_object("n1", &[], "1", "1Gi");
    let err = register(&fx.ctx, &fx.cidrs, &fx.token(), Some(&node), &csr("n2"))
        .await
        .unwrap_err();
    assert_eq!(Status::from(err).code(), Code::InvalidArgument);
    assert!(fx.store().get(&node_key("n1")).await.unwrap().is_none());
    let err = register(&fx.ctx, &fx.cidrs, &fx.token(), None, &csr("n1"))
        .await
        .unwrap_err();
    assert_eq!(Status::from(err).code(), Code::InvalidArgument);
}

#[tokio::test]
async fn registration_makes_a_ready_labelled_node_with_a_certificate_and_a_lease() {
    let fx = Fixture::new();
    let registered = fx.register_with("n1", &[("zone", "a")], "2", "4Gi").await;

    let der = x509_parser::pem::parse_x509_pem(registered.certificate_pem.as_bytes())
        .unwrap()
        .1
        .contents;
    assert_eq!(Caller::from_certificate(&der), Caller::Node("n1".into()));
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let sans = cert.subject_alternative_name().unwrap().unwrap().value;
    let text = format!("{sans:?}");
    assert!(
        text.contains("192.168.56.11") || text.contains("[192, 168, 56, 11]"),
        "{text}"
    );

    let node = fx.node("n1").await;
    let labels = node.metadata.labels.clone().unwrap();
    assert_eq!(labels["kubernetes.io/hostname"], "n1");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert_eq!(labels["kubernetes.io/arch"], "arm64");
    assert_eq!(labels["zone"], "a");
    let ready = node_condition(&node, "Ready").unwrap();
    assert_eq!(ready.status, "True");
    assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
    let status = node.status.clone().unwrap();
    assert_eq!(status.allocatable.unwrap()["memory"].0, "4Gi");
    assert_eq!(status.addresses.unwrap()[0].address, "192.168.56.11");

    let lease: Lease = decode(&fx.store().get(&lease_key("n1")).await.unwrap().unwrap()).unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("n1"));
    assert_eq!(spec.renew_time.unwrap().0, fx.clock.now());
    let owner = &lease.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Node", node.metadata.uid.as_deref().unwrap())
    );
}

#[tokio::test]
async fn reregistration_keeps_user_labels_spec_and_uid() {
    let fx = Fixture::new();
    fx.register_with("n1", &[("zone", "a")], "2", "4Gi").await;
    let uid = fx.node("n1").await.metadata.uid;
    // `skiff label node n1 disktype=ssd` and a cordon, through the API.
    fx.edit(node_key("n1"), |v| {
        v["metadata"]["labels"]["disktype"] = "ssd".into();
        v["spec"]["unschedulable"] = true.into();
    })
    .await;
    fx.register_with("n1", &[("zone", "b")], "4", "8Gi").await;

    let node = fx.node("n1").await;
    assert_eq!(node.metadata.uid, uid);
    let labels = node.metadata.labels.clone().unwrap();
    assert_eq!(labels["disktype"], "ssd");
    assert_eq!(
        labels["zone"], "b",
        "the agent's own labels follow the agent"
    );
    assert_eq!(node.spec.as_ref().unwrap().unschedulable, Some(true));
    assert_eq!(node.status.unwrap().capacity.unwrap()["cpu"].0, "4");
}

#[tokio::test]
async fn heartbeats_renew_the_lease_and_bring_the_node_back_to_ready() {
    let fx = Fixture::new();
    let err = heartbeat(&fx.ctx, "n1").await.unwrap_err();
    assert_eq!(Status::from(err).code(), Code::NotFound);

    fx.register("n1").await;
    let revision = fx
        .store()
        .get(&node_key("n1"))
        .await
        .unwrap()
        .unwrap()
        .revision;
    fx.clock.advance(std::time::Duration::from_secs(3));
    assert_eq!(heartbeat(&fx.ctx, "n1").await.unwrap().as_secs(), 4);
    let lease: Lease = decode(&fx.store().get(&lease_key("n1")).await.unwrap().unwrap()).unwrap();
    assert_eq!(lease.spec.unwrap().renew_time.unwrap().0, fx.clock.now());
    let after = fx
        .store()
        .get(&node_key("n1"))
        .await
        .unwrap()
        .unwrap()
        .revision;
    assert_eq!(
        after, revision,
        "a ready node is not rewritten on every heartbeat"
    );

    // Marked Unknown (by the lifecycle controller): the next heartbeat makes it Ready.
    fx.edit(node_key("n1"), |v| {
        for c in v["status"]["conditions"].as_array_mut().unwrap() {
            c["status"] = "Unknown".into();
            c["reason"] = "NodeStatusUnknown".into();
        }
    })
    .await;
    heartbeat(&fx.ctx, "n1").await.unwrap();
    let ready = node_condition(&fx.node("n1").await, "Ready")
        .cloned()
        .unwrap();
    assert_eq!(ready.status, "True");
    assert_eq!(ready.last_transition_time.unwrap().0, fx.clock.now());
}

#[tokio::test]
async fn a_second_node_with_a_taken_internal_ip_is_refused_naming_both() {
    let fx = Fixture::new();
    fx.register("n1").await;
    // n2 reports n1's address, as Vagrant VMs that all see the NAT address would.
    let mut node = node_object("n2", &[], "1", "1Gi");
    let text = String::from_utf8(node.json.clone()).unwrap();
    node.json = text
        .replace(&super::node_address("n2"), &super::node_address("n1"))
        .into_bytes();
    let err = register(&fx.ctx, &fx.cidrs, &fx.token(), Some(&node), &csr("n2"))
        .await
        .unwrap_err();
    let status = Status::from(err);
    assert_eq!(status.code(), Code::AlreadyExists);
    for needle in ["\"n1\"", "\"n2\"", "192.168.56.11", "--node-ip"] {
        assert!(
            status.message().contains(needle),
            "{needle}: {}",
            status.message()
        );
    }
    assert!(fx.store().get(&node_key("n2")).await.unwrap().is_none());
    // The owner of the address registers again (a restart) without trouble, and n2 with
    // its own address joins.
    fx.register("n1").await;
    fx.register("n2").await;
}
