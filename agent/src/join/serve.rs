//! The Agent API for the control plane, on the node IP over TLS: the node certificate
//! identifies this node, only clients with a cluster-CA certificate get past the
//! handshake, and of those only the control plane's identity gets an answer (other nodes
//! hold cluster-CA certificates too).

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use skiff_proto::v1::agent_server::AgentServer;
use tracing::info;

use super::bootstrap::Credentials;
use crate::api::AgentApi;

/// The port the control plane calls agents on (the kubelet's).
pub const AGENT_PORT: u16 = 10250;

pub async fn serve_tls(api: AgentApi, ip: IpAddr, creds: Credentials) -> anyhow::Result<()> {
    let addr = SocketAddr::new(ip, AGENT_PORT);
    let tls = skiff_proto::auth::node_server_tls(&creds.ca_pem, &creds.cert_pem, &creds.key_pem);
    let service = AgentServer::with_interceptor(api, |req: tonic::Request<()>| {
        skiff_proto::auth::require_control_plane(&req)?;
        Ok(req)
    });
    info!(%addr, "agent api listening for the control plane");
    tonic::transport::Server::builder()
        .tls_config(tls)
        .context("agent api tls")?
        .add_service(service)
        .serve(addr)
        .await
        .with_context(|| format!("agent api on {addr}"))
}
