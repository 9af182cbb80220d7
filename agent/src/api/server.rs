//! `skiff.v1.Agent` over tonic.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use skiff_proto::selector::Selector;
use skiff_proto::v1::agent_server::{Agent, AgentServer};
use skiff_proto::v1::{
    ExecInput, ExecOutput, GetPodRequest, ListPodsRequest, ListPodsResponse, LogChunk, LogsRequest,
    Object, PortForwardInput, PortForwardOutput,
};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status};
use tracing::info;

use super::attach;
use super::error::ApiError;
use super::exec::{self, ExecBackend};
use super::logs;
use super::portforward::{self, PodDialer};
use crate::pods::StatusStore;

#[derive(Clone)]
pub struct AgentApi {
    pub store: StatusStore,
    pub root: PathBuf,
    /// Runs `exec` sessions (containerd).
    pub exec: Arc<dyn ExecBackend>,
    /// Opens port-forward connections inside pods' network namespaces.
    pub dialer: Arc<dyn PodDialer>,
}

pub fn pod_object(pod: &Pod) -> Object {
    let m = &pod.metadata;
    Object {
        kind: "Pod".into(),
        namespace: m.namespace.clone().unwrap_or_default(),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        resource_version: m.resource_version.clone().unwrap_or_default(),
        json: serde_json::to_vec(pod).unwrap_or_default(),
    }
}

/// An empty namespace is the default one, as kubectl has it.
pub(super) fn namespace_or_default(ns: &str) -> &str {
    if ns.is_empty() {
        "default"
    } else {
        ns
    }
}

#[tonic::async_trait]
impl Agent for AgentApi {
    async fn list_pods(
        &self,
        req: Request<ListPodsRequest>,
    ) -> Result<Response<ListPodsResponse>, Status> {
        let req = req.into_inner();
        let selector = Selector::parse(&req.label_selector)
            .map_err(|e| ApiError::InvalidArgument(e.to_string()))?;
        let ns = namespace_or_default(&req.namespace);
        let items = self
            .store
            .list()
            .iter()
            .filter(|p| {
                req.all_namespaces || p.metadata.namespace.as_deref().unwrap_or("default") == ns
            })
            .filter(|p| selector.matches(p.metadata.labels.as_ref()))
            .map(pod_object)
            .collect();
        let warnings = self.store.errors().into_iter().map(|e| e.message).collect();
        Ok(Response::new(ListPodsResponse { items, warnings }))
    }

    async fn get_pod(&self, req: Request<GetPodRequest>) -> Result<Response<Object>, Status> {
        let req = req.into_inner();
        let ns = namespace_or_default(&req.namespace);
        self.store
            .get(ns, &req.name)
            .map(|p| Response::new(pod_object(&p)))
            .ok_or_else(|| ApiError::PodNotFound(req.name).into())
    }

    type LogsStream = ReceiverStream<Result<LogChunk, Status>>;

    async fn logs(&self, req: Request<LogsRequest>) -> Result<Response<Self::LogsStream>, Status> {
        let req = req.into_inner();
        let ns = namespace_or_default(&req.namespace).to_string();
        let stream = logs::stream(self.store.clone(), self.root.clone(), &ns, &req)?;
        Ok(Response::new(stream))
    }

    type ExecStream = ReceiverStream<Result<ExecOutput, Status>>;

    async fn exec(
        &self,
        req: Request<tonic::Streaming<ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        let stream = exec::session(&self.store, self.exec.clone(), req.into_inner()).await?;
        Ok(Response::new(stream))
    }

    type PortForwardStream = ReceiverStream<Result<PortForwardOutput, Status>>;

    async fn port_forward(
        &self,
        req: Request<tonic::Streaming<PortForwardInput>>,
    ) -> Result<Response<Self::PortForwardStream>, Status> {
        let stream = portforward::session(
            &self.store,
            &self.root,
            self.dialer.clone(),
            req.into_inner(),
        )
        .await?;
        Ok(Response::new(stream))
    }

    type AttachStream = ReceiverStream<Result<ExecOutput, Status>>;

    async fn attach(
        &self,
        req: Request<tonic::Streaming<ExecInput>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let stream = attach::session(
            &self.store,
            self.root.clone(),
            self.exec.clone(),
            req.into_inner(),
        )
        .await?;
        Ok(Response::new(stream))
    }
}

/// Serves the API on `socket` (mode 0600) until the process ends.
pub async fn serve_unix(api: AgentApi, socket: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("remove stale socket {}", socket.display()))
        }
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(socket)
        .with_context(|| format!("bind {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    info!(socket = %socket.display(), "agent api listening");
    tonic::transport::Server::builder()
        .add_service(AgentServer::new(api))
        .serve_with_incoming(UnixListenerStream::new(listener))
        .await
        .context("agent api server")
}
