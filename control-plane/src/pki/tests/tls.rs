//! Real tonic servers on 127.0.0.1: the control plane's (client certificate optional) and
//! an agent's (client certificate required), with a stand-in service whose methods make
//! the checks the real ones will.

use std::net::SocketAddr;

use skiff_proto::auth::{self, AdminConfig};
use skiff_proto::v1::agent_client::AgentClient;
use skiff_proto::v1::agent_server::{Agent, AgentServer};
use skiff_proto::v1::{
    ExecInput, ExecOutput, GetPodRequest, ListPodsRequest, ListPodsResponse, LogChunk, LogsRequest,
    Object, PortForwardInput, PortForwardOutput,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Endpoint, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status};

use super::super::Pki;
use super::node_csr;

/// ListPods: admin only. GetPod: node "n1" only. Logs: the control plane only.
struct StandIn;

#[tonic::async_trait]
impl Agent for StandIn {
    async fn list_pods(
        &self,
        req: Request<ListPodsRequest>,
    ) -> Result<Response<ListPodsResponse>, Status> {
        auth::require_admin(&req)?;
        Ok(Response::new(ListPodsResponse::default()))
    }

    async fn get_pod(&self, req: Request<GetPodRequest>) -> Result<Response<Object>, Status> {
        auth::require_node(&req, "n1")?;
        Ok(Response::new(Object::default()))
    }

    type LogsStream = futures::stream::Empty<Result<LogChunk, Status>>;

    async fn logs(&self, req: Request<LogsRequest>) -> Result<Response<Self::LogsStream>, Status> {
        auth::require_control_plane(&req)?;
        Ok(Response::new(futures::stream::empty()))
    }

    type ExecStream = futures::stream::Empty<Result<ExecOutput, Status>>;

    async fn exec(
        &self,
        req: Request<tonic::Streaming<ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        auth::require_control_plane(&req)?;
        Ok(Response::new(futures::stream::empty()))
    }

    type PortForwardStream = futures::stream::Empty<Result<PortForwardOutput, Status>>;

    async fn port_forward(
        &self,
        req: Request<tonic::Streaming<PortForwardInput>>,
    ) -> Result<Response<Self::PortForwardStream>, Status> {
        auth::require_control_plane(&req)?;
        Ok(Response::new(futures::stream::empty()))
    }

    type AttachStream = futures::stream::Empty<Result<ExecOutput, Status>>;

    async fn attach(
        &self,
        req: Request<tonic::Streaming<ExecInput>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        auth::require_control_plane(&req)?;
        Ok(Response::new(futures::stream::empty()))
    }
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn serve(listener: tokio::net::TcpListener, tls: ServerTlsConfig) {
    let server = Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(AgentServer::new(StandIn))
        .serve_with_incoming(TcpListenerStream::new(listener));
    tokio::spawn(server);
}

/// A control plane on 127.0.0.1 with a fresh PKI whose admin.conf points at it.
async fn control_plane(dir: &std::path::Path) -> (Pki, String) {
    let (listener, addr) = listener().await;
    let url = format!("https://{addr}");
    let pki = Pki::load_or_create(dir, &[], &url).unwrap();
    serve(listener, pki.server_tls());
    (pki, url)
}

/// A node certificate for `name`: (cert PEM, key PEM).
fn node_identity(pki: &Pki, name: &str) -> (String, String) {
    let (key, csr) = node_csr(None);
    let cert = pki
        .sign_node_csr(&csr, name, &["127.0.0.1".parse().unwrap()])
        .unwrap();
    (cert, key.serialize_pem())
}

fn code<T: std::fmt::Debug>(result: Result<T, Status>) -> Code {
    result.map(|_| ()).err().map_or(Code::Ok, |s| s.code())
}

#[tokio::test]
async fn the_control_plane_tells_admins_nodes_and_strangers_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, url) = control_plane(dir.path()).await;

    let admin = AdminConfig::load(&super::super::admin_conf_path(dir.path())).unwrap();
    let mut client = AgentClient::new(admin.channel().await.unwrap());
    assert_eq!(
        code(client.list_pods(ListPodsRequest::default()).await),
        Code::Ok
    );
    assert_eq!(
        code(client.get_pod(GetPodRequest::default()).await),
        Code::PermissionDenied
    );

    let anonymous = auth::endpoint(&url, pki.ca_pem(), None)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = AgentClient::new(anonymous);
    assert_eq!(
        code(client.list_pods(ListPodsRequest::default()).await),
        Code::Unauthenticated
    );
    assert_eq!(
        code(client.get_pod(GetPodRequest::default()).await),
        Code::Unauthenticated
    );

    let (cert, key) = node_identity(&pki, "n1");
    let mut n1 = AgentClient::new(
        auth::node_channel(&url, pki.ca_pem(), &cert, &key)
            .await
            .unwrap(),
    );
    assert_eq!(
        code(n1.list_pods(ListPodsRequest::default()).await),
        Code::PermissionDenied
    );
    assert_eq!(code(n1.get_pod(GetPodRequest::default()).await), Code::Ok);

    let (cert, key) = node_identity(&pki, "n2");
    let mut n2 = AgentClient::new(
        auth::node_channel(&url, pki.ca_pem(), &cert, &key)
            .await
            .unwrap(),
    );
    assert_eq!(
        code(n2.get_pod(GetPodRequest::default()).await),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn another_clusters_credentials_get_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, url) = control_plane(dir.path()).await;
    let other_dir = tempfile::tempdir().unwrap();
    let other = Pki::load_or_create(other_dir.path(), &[], &url).unwrap();

    // Trusting another CA: the server's certificate is refused.
    let err = other.admin_config().channel().await.unwrap_err();
    assert!(matches!(err, auth::AuthError::Transport(_)), "{err}");

    // The right CA but a client certificate from another CA: the handshake fails.
    let forged = AdminConfig {
        ca: pki.ca_pem().to_string(),
        ..other.admin_config().clone()
    };
    let channel = forged.channel().await.map_err(|e| e.to_string());
    assert_refused_in_handshake(channel, |c| async move {
        AgentClient::new(c)
            .list_pods(ListPodsRequest::default())
            .await
            .map(drop)
    })
    .await;
}

/// Asserts that a connection failed at the TLS layer: either connecting failed, or (TLS
/// 1.3 sends the client certificate after the client considers the handshake done) the
/// first call failed with a transport error rather than a status from a method.
async fn assert_refused_in_handshake<F, Fut>(channel: Result<Channel, String>, call: F)
where
    F: FnOnce(Channel) -> Fut,
    Fut: std::future::Future<Output = Result<(), Status>>,
{
    let Ok(channel) = channel else { return };
    let status = call(channel).await.expect_err("the call went through");
    assert_eq!(status.code(), Code::Unknown, "{status}");
    assert!(status.message().contains("transport error"), "{status}");
}

/// The agent's API: the node certificate as the server, client certificates required.
async fn agent(pki: &Pki) -> SocketAddr {
    let (listener, addr) = listener().await;
    let (cert, key) = node_identity(pki, "n1");
    serve(listener, auth::node_server_tls(pki.ca_pem(), &cert, &key));
    addr
}

async fn agent_channel(
    addr: SocketAddr,
    tls: tonic::transport::ClientTlsConfig,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
}

#[tokio::test]
async fn an_agent_answers_only_the_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(dir.path(), &[], "https://127.0.0.1:6443").unwrap();
    let addr = agent(&pki).await;

    let channel = agent_channel(addr, pki.agent_client_tls("127.0.0.1"))
        .await
        .unwrap();
    let mut client = AgentClient::new(channel);
    assert_eq!(code(client.logs(LogsRequest::default()).await), Code::Ok);

    let admin = pki.admin_config();
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&admin.ca))
        .identity(tonic::transport::Identity::from_pem(
            &admin.cert,
            &admin.key,
        ))
        .domain_name("127.0.0.1");
    let mut as_admin = AgentClient::new(agent_channel(addr, tls).await.unwrap());
    assert_eq!(
        code(as_admin.logs(LogsRequest::default()).await),
        Code::PermissionDenied
    );

    // No client certificate: refused during the handshake, before any method runs.
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(pki.ca_pem()))
        .domain_name("127.0.0.1");
    let channel = agent_channel(addr, tls).await.map_err(|e| e.to_string());
    assert_refused_in_handshake(channel, |c| async move {
        AgentClient::new(c)
            .logs(LogsRequest::default())
            .await
            .map(drop)
    })
    .await;

    // The agent's certificate names its IP, not others: dialing it by another name fails.
    assert!(agent_channel(addr, pki.agent_client_tls("10.9.9.9"))
        .await
        .is_err());
}

#[tokio::test]
async fn an_agent_with_only_the_token_pins_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, url) = control_plane(dir.path()).await;

    let ca = auth::fetch_ca_pinned(&url, &pki.node_token())
        .await
        .unwrap();
    assert_eq!(super::der_of(&ca), pki.ca_der());
    // With the fetched CA, an anonymous channel verifies the server and reaches the
    // methods, which then ask for a certificate (Register would take the token).
    let channel = auth::endpoint(&url, &ca, None)
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert_eq!(
        code(
            AgentClient::new(channel)
                .list_pods(ListPodsRequest::default())
                .await
        ),
        Code::Unauthenticated
    );

    // A token for another cluster's CA: whatever this server presents is refused.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Pki::load_or_create(other_dir.path(), &[], &url).unwrap();
    let err = auth::fetch_ca_pinned(&url, &other.node_token())
        .await
        .unwrap_err();
    assert!(
        matches!(err, auth::AuthError::CaNotPinned { presented: 2, .. }),
        "{err}"
    );

    assert!(matches!(
        auth::fetch_ca_pinned(&url, "just-a-secret").await,
        Err(auth::AuthError::Token(_))
    ));
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("https://{}", closed.local_addr().unwrap());
    drop(closed);
    assert!(matches!(
        auth::fetch_ca_pinned(&closed_url, &pki.node_token()).await,
        Err(auth::AuthError::Bootstrap { .. })
    ));
}
