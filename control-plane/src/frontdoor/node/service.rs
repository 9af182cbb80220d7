//! The `Node` gRPC service: authentication and translation only. Each method checks who
//! is calling (the join token for Register, the node's own certificate for the rest) and
//! hands over to the module that does the work.

use std::sync::Arc;

use skiff_proto::auth;
use skiff_proto::v1::node_server::Node;
use skiff_proto::v1::{
    GetPodObjectRequest, HeartbeatRequest, HeartbeatResponse, ListReleasedVolumesRequest,
    ListReleasedVolumesResponse, RecordNodeEventRequest, RecordNodeEventResponse,
    RecordPodEventsRequest, RecordPodEventsResponse, RegisterRequest, RegisterResponse,
    ServiceAccountTokenRequest, ServiceAccountTokenResponse, SyncMirrorPodsRequest,
    SyncMirrorPodsResponse, UpdateNodeStatusRequest, UpdateNodeStatusResponse,
    UpdatePodStatusRequest, UpdatePodStatusResponse, VolumeDeletedRequest, VolumeDeletedResponse,
    WatchEndpointsRequest, WatchNodesRequest, WatchPodsRequest, WatchServicesRequest,
};
use tonic::{Request, Response, Status};

use super::watch_kind::{watch_kind, ObjectEvents};
use super::watch_pods::{self, PodEvents};
use super::{
    heartbeat, node_network, pod_events, pod_object, pod_status, register, service_account_token,
    volumes,
};
use crate::controllers::nodes::NodeContext;
use crate::resources::allocation::PodCidrAllocator;

pub struct NodeService {
    ctx: Arc<NodeContext>,
    cidrs: PodCidrAllocator,
}

impl NodeService {
    pub fn new(ctx: Arc<NodeContext>) -> Self {
        let cidrs = PodCidrAllocator::new(ctx.cp.config.cluster_cidr);
        NodeService { ctx, cidrs }
    }
}

#[tonic::async_trait]
impl Node for NodeService {
    async fn register(
        &self,
        req: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let req = req.into_inner();
        let registered = register::register(
            &self.ctx,
            &self.cidrs,
            &req.token,
            req.node.as_ref(),
            &req.csr_pem,
        )
        .await
        .inspect_err(|err| tracing::warn!(error = %err, "node registration refused"))?;
        let config = &self.ctx.cp.config;
        Ok(Response::new(RegisterResponse {
            certificate_pem: registered.certificate_pem,
            ca_pem: self.ctx.cp.pki.ca_pem().to_string(),
            pod_cidr: registered.pod_cidr.to_string(),
            cluster_cidr: config.cluster_cidr.to_string(),
            service_cidr: config.service_cidr.to_string(),
        }))
    }

    async fn heartbeat(
        &self,
        req: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let lease = heartbeat::heartbeat(&self.ctx, &req.get_ref().node_name).await?;
        Ok(Response::new(HeartbeatResponse {
            lease_seconds: i64::try_from(lease.as_secs()).unwrap_or(i64::MAX),
        }))
    }

    type WatchPodsStream = PodEvents;

    async fn watch_pods(
        &self,
        req: Request<WatchPodsRequest>,
    ) -> Result<Response<Self::WatchPodsStream>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let req = req.into_inner();
        let stream =
            watch_pods::watch_pods(&self.ctx, &req.node_name, &req.resource_version).await?;
        Ok(Response::new(stream))
    }

    // services: the cluster's Services and Endpoints (control-plane/src/services/watch.rs).
    type WatchServicesStream = ObjectEvents;

    async fn watch_services(
        &self,
        req: Request<WatchServicesRequest>,
    ) -> Result<Response<Self::WatchServicesStream>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let rv = &req.get_ref().resource_version;
        let stream = watch_kind(self.ctx.cp.store.as_ref(), "Service", rv).await?;
        Ok(Response::new(stream))
    }

    type WatchEndpointsStream = ObjectEvents;

    async fn watch_endpoints(
        &self,
        req: Request<WatchEndpointsRequest>,
    ) -> Result<Response<Self::WatchEndpointsStream>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let rv = &req.get_ref().resource_version;
        let stream = watch_kind(self.ctx.cp.store.as_ref(), "Endpoints", rv).await?;
        Ok(Response::new(stream))
    }

    async fn update_pod_status(
        &self,
        req: Request<UpdatePodStatusRequest>,
    ) -> Result<Response<UpdatePodStatusResponse>, Status> {
        let node = auth::require_any_node(&req)?;
        pod_status::update_pod_status(&self.ctx, &node, &req.get_ref().pods).await?;
        Ok(Response::new(UpdatePodStatusResponse {}))
    }

    // mirror pods (control-plane/src/mirror).
    async fn sync_mirror_pods(
        &self,
        req: Request<SyncMirrorPodsRequest>,
    ) -> Result<Response<SyncMirrorPodsResponse>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let req = req.into_inner();
        let store = self.ctx.cp.store.as_ref();
        let pods: Vec<crate::resources::Object> = req.pods.into_iter().map(Into::into).collect();
        let synced =
            crate::resources::mirror::sync(store, self.ctx.clock.as_ref(), &req.node_name, &pods)
                .await?;
        Ok(Response::new(SyncMirrorPodsResponse {
            created: synced.created,
            updated: synced.updated,
            deleted: synced.deleted,
        }))
    }

    // pod network: every Node, and the caller's own Node's network status and events
    // (control-plane/src/nodes/node_network.rs).
    type WatchNodesStream = ObjectEvents;

    async fn watch_nodes(
        &self,
        req: Request<WatchNodesRequest>,
    ) -> Result<Response<Self::WatchNodesStream>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let rv = &req.get_ref().resource_version;
        let stream = watch_kind(self.ctx.cp.store.as_ref(), "Node", rv).await?;
        Ok(Response::new(stream))
    }

    async fn update_node_status(
        &self,
        req: Request<UpdateNodeStatusRequest>,
    ) -> Result<Response<UpdateNodeStatusResponse>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let req = req.into_inner();
        let annotations = req.annotations.into_iter().collect();
        node_network::update_node_status(&self.ctx, &req.node_name, &annotations, &req.conditions)
            .await?;
        Ok(Response::new(UpdateNodeStatusResponse {}))
    }

    async fn record_node_event(
        &self,
        req: Request<RecordNodeEventRequest>,
    ) -> Result<Response<RecordNodeEventResponse>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let r = req.into_inner();
        node_network::record_node_event(&self.ctx, &r.node_name, &r.r#type, &r.reason, &r.message)
            .await?;
        Ok(Response::new(RecordNodeEventResponse {}))
    }

    // pod events (pod_events.rs).
    async fn record_pod_events(
        &self,
        req: Request<RecordPodEventsRequest>,
    ) -> Result<Response<RecordPodEventsResponse>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let r = req.get_ref();
        pod_events::record_pod_events(&self.ctx, &r.node_name, &r.events)
            .await
            .inspect_err(
                |err| tracing::info!(node = %r.node_name, error = %err, "pod events refused"),
            )?;
        Ok(Response::new(RecordPodEventsResponse {}))
    }

    async fn get_pod_object(
        &self,
        req: Request<GetPodObjectRequest>,
    ) -> Result<Response<skiff_proto::v1::Object>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let r = req.into_inner();
        let object =
            pod_object::get_pod_object(&self.ctx, &r.node_name, &r.kind, &r.namespace, &r.name)
                .await
                .inspect_err(|err| {
                    tracing::info!(node = %r.node_name, kind = %r.kind, error = %err, "pod object refused")
                })?;
        Ok(Response::new(object))
    }

    // service accounts: not served yet (issue #17 item 3 is in progress; this answer
    // is replaced by the token issuer).
    async fn request_service_account_token(
        &self,
        req: Request<ServiceAccountTokenRequest>,
    ) -> Result<Response<ServiceAccountTokenResponse>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let req = req.get_ref();
        let response = service_account_token::request_token(&self.ctx, &req.node_name, req)
            .await
            .inspect_err(|err| tracing::debug!(error = %err, "service account token refused"))?;
        Ok(Response::new(response))
    }

    // storage: reclaiming the caller's provisioned volumes (volumes.rs).
    async fn list_released_volumes(
        &self,
        req: Request<ListReleasedVolumesRequest>,
    ) -> Result<Response<ListReleasedVolumesResponse>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let volumes = volumes::list_released(&self.ctx, &req.get_ref().node_name).await?;
        Ok(Response::new(ListReleasedVolumesResponse { volumes }))
    }

    async fn volume_deleted(
        &self,
        req: Request<VolumeDeletedRequest>,
    ) -> Result<Response<VolumeDeletedResponse>, Status> {
        auth::require_node(&req, &req.get_ref().node_name)?;
        let r = req.get_ref();
        volumes::deleted(&self.ctx, &r.node_name, &r.name).await?;
        Ok(Response::new(VolumeDeletedResponse {}))
    }
}
