//! The Node service behind a real TLS server on 127.0.0.1: who may call what.

use std::sync::Arc;

use futures::StreamExt;
use skiff_proto::auth;
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::{
    GetPodObjectRequest, HeartbeatRequest, RegisterRequest, UpdatePodStatusRequest,
    WatchPodsRequest,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic::Code;

use super::{bound_pod, csr_and_key, node_object, Fixture};
use crate::core::ControlPlane;
use crate::frontdoor::node::node_service;
use crate::pki::Pki;
use crate::store::MemoryStore;

/// A control plane serving only the Node service; returns its URL and state.
async fn serve() -> (tempfile::TempDir, String, Arc<ControlPlane>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::load_or_create(dir.path(), &[], &url).unwrap());
    let cp = Arc::new(ControlPlane {
        store: Arc::new(MemoryStore::new()),
        pki: pki.clone(),
        config: super::config(),
    });
    let server = Server::builder()
        .tls_config(pki.server_tls())
        .unwrap()
        .add_service(node_service(cp.clone()))
        .serve_with_incoming(TcpListenerStream::new(listener));
    tokio::spawn(server);
    (dir, url, cp)
}

async fn anonymous(url: &str, cp: &ControlPlane) -> NodeClient<Channel> {
    let channel = auth::endpoint(url, cp.pki.ca_pem(), None)
        .unwrap()
        .connect()
        .await
        .unwrap();
    NodeClient::new(channel)
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    result.map(|_| ()).err().map_or(Code::Ok, |s| s.code())
}

#[tokio::test]
async fn agents_register_with_the_token_then_act_only_for_themselves() {
    let (_dir, url, cp) = serve().await;
    let mut stranger = anonymous(&url, &cp).await;
    let (csr, key) = csr_and_key("n1");
    let request = |token: String| RegisterRequest {
        token,
        node: Some(node_object("n1", &[], "2", "2Gi")),
        csr_pem: csr.clone(),
    };

    let refused = stranger
        .register(request("K10abc::node:guess".into()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "invalid node token");

    let registered = stranger
        .register(request(cp.pki.node_token()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(registered.pod_cidr, "10.42.0.0/24");
    assert_eq!(registered.cluster_cidr, "10.42.0.0/16");
    assert_eq!(registered.service_cidr, "10.43.0.0/16");
    assert_eq!(registered.ca_pem, cp.pki.ca_pem());

    let heartbeat = |name: &str| HeartbeatRequest {
        node_name: name.into(),
    };
    assert_eq!(
        code(stranger.heartbeat(heartbeat("n1")).await),
        Code::Unauthenticated
    );

    let channel = auth::node_channel(&url, &registered.ca_pem, &registered.certificate_pem, &key)
        .await
        .unwrap();
    let mut n1 = NodeClient::new(channel);
    let lease = n1.heartbeat(heartbeat("n1")).await.unwrap().into_inner();
    assert_eq!(lease.lease_seconds, 4);
    assert_eq!(
        code(n1.heartbeat(heartbeat("n2")).await),
        Code::PermissionDenied
    );

    let watch = |name: &str| WatchPodsRequest {
        node_name: name.into(),
        resource_version: String::new(),
    };
    assert_eq!(
        code(n1.watch_pods(watch("n2")).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(stranger.watch_pods(watch("n1")).await),
        Code::Unauthenticated
    );

    // The node's pods stream; its status reports land, other nodes' are refused.
    let fx = Fixture::over(
        tempfile::tempdir().unwrap(),
        cp.pki.clone(),
        cp.config.clone(),
        cp.store.clone(),
    );
    fx.create_pod(bound_pod("mine", "n1")).await;
    fx.create_pod(bound_pod("theirs", "n2")).await;
    let mut stream = n1.watch_pods(watch("n1")).await.unwrap().into_inner();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (first.r#type.as_str(), first.object.unwrap().name.as_str()),
        ("ADDED", "mine")
    );

    let status = |name: &str| {
        let mut pod = bound_pod(name, "n1");
        pod["status"] = serde_json::json!({"phase": "Running"});
        let object = skiff_proto::v1::Object {
            kind: "Pod".into(),
            namespace: "default".into(),
            name: name.into(),
            json: serde_json::to_vec(&pod).unwrap(),
            ..Default::default()
        };
        UpdatePodStatusRequest { pods: vec![object] }
    };
    n1.update_pod_status(status("mine")).await.unwrap();
    assert_eq!(
        fx.pod("default", "mine")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Running")
    );
    assert_eq!(
        code(n1.update_pod_status(status("theirs")).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(stranger.update_pod_status(status("mine")).await),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn nodes_watch_every_node_and_report_only_their_own_network() {
    let (_dir, url, cp) = serve().await;
    let mut stranger = anonymous(&url, &cp).await;
    let mut n1 = join(&mut stranger, &url, &cp, "n1").await;
    let mut n2 = join(&mut stranger, &url, &cp, "n2").await;
    let watch = |name: &str| skiff_proto::v1::WatchNodesRequest {
        node_name: name.into(),
        resource_version: String::new(),
    };
    assert_eq!(
        code(n1.watch_nodes(watch("n2")).await),
        Code::PermissionDenied
    );
    let mut stream = n1.watch_nodes(watch("n1")).await.unwrap().into_inner();
    let mut listed = Vec::new();
    loop {
        let event = stream.next().await.unwrap().unwrap();
        if event.r#type == "BOOKMARK" {
            break;
        }
        listed.push(event.object.unwrap().name);
    }
    listed.sort();
    assert_eq!(listed, ["n1", "n2"]);

    // n2 publishes its backend data; n1 sees the change on its watch.
    let update = |name: &str| skiff_proto::v1::UpdateNodeStatusRequest {
        node_name: name.into(),
        annotations: [(
            "flannel.alpha.coreos.com/backend-data".to_string(),
            r#"{"VNI":1,"VtepMAC":"02:00:00:00:00:02"}"#.to_string(),
        )]
        .into(),
        conditions: vec![],
    };
    assert_eq!(
        code(n1.update_node_status(update("n2")).await),
        Code::PermissionDenied
    );
    n2.update_node_status(update("n2")).await.unwrap();
    let changed = stream.next().await.unwrap().unwrap();
    assert_eq!(changed.r#type, "MODIFIED");
    let object = changed.object.unwrap();
    assert_eq!(object.name, "n2");
    assert!(String::from_utf8_lossy(&object.json).contains("VtepMAC"));

    let event = |name: &str| skiff_proto::v1::RecordNodeEventRequest {
        node_name: name.into(),
        r#type: "Warning".into(),
        reason: "NoDirectRoute".into(),
        message: "x".into(),
    };
    let refused = (
        code(n1.record_node_event(event("n2")).await),
        code(stranger.record_node_event(event("n1")).await),
    );
    assert_eq!(refused, (Code::PermissionDenied, Code::Unauthenticated));
    n1.record_node_event(event("n1")).await.unwrap();
}

/// Registers `name` through `client` and returns a client with its certificate.
async fn join(
    client: &mut NodeClient<Channel>,
    url: &str,
    cp: &ControlPlane,
    name: &str,
) -> NodeClient<Channel> {
    let (csr, key) = csr_and_key(name);
    let req = RegisterRequest {
        token: cp.pki.node_token(),
        node: Some(node_object(name, &[], "2", "2Gi")),
        csr_pem: csr,
    };
    let r = client.register(req).await.unwrap().into_inner();
    let channel = auth::node_channel(url, &r.ca_pem, &r.certificate_pem, &key)
        .await
        .unwrap();
    NodeClient::new(channel)
}

#[tokio::test]
async fn a_node_reads_secrets_only_for_its_own_pods() {
    let (_dir, url, cp) = serve().await;
    let mut stranger = anonymous(&url, &cp).await;
    let mut n1 = join(&mut stranger, &url, &cp, "n1").await;
    let mut n2 = join(&mut stranger, &url, &cp, "n2").await;
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "default"},
        "data": {"pw": "aGk="},
    });
    let key = crate::store::Key::new("Secret", "default", "db");
    let json = serde_json::to_vec(&secret).unwrap();
    cp.store.create(key, "uid-db".into(), json).await.unwrap();
    let mut pod = bound_pod("app", "n1");
    pod["spec"]["volumes"] = serde_json::json!([{"name": "s", "secret": {"secretName": "db"}}]);
    let pod_key = crate::core::objects::pod_key("default", "app");
    let json = serde_json::to_vec(&pod).unwrap();
    cp.store
        .create(pod_key, "uid-app".into(), json)
        .await
        .unwrap();

    let request = |node: &str| GetPodObjectRequest {
        node_name: node.into(),
        kind: "Secret".into(),
        namespace: "default".into(),
        name: "db".into(),
    };
    let object = n1.get_pod_object(request("n1")).await.unwrap().into_inner();
    assert_eq!(
        (object.kind.as_str(), object.uid.as_str()),
        ("Secret", "uid-db")
    );
    // n2 asks as itself (no pod uses it there) and as n1 (not its certificate).
    let refused = n2.get_pod_object(request("n2")).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("\"n2\""),
        "{}",
        refused.message()
    );
    assert_eq!(
        code(n2.get_pod_object(request("n1")).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(stranger.get_pod_object(request("n1")).await),
        Code::Unauthenticated
    );
}
