//! The `skiff.v1.Api` service: what the CLI talks to.
//!
//! Each method is a plain async function of `crate::resources` (testable against
//! `MemoryStore` without TLS); [`ApiService`] only authorizes, opens the request's span
//! and maps errors to gRPC codes (`super::status`, the one place that does). Logs and
//! Exec are relayed to the pod's node (`super::relay`).

use std::future::Future;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use skiff_proto::auth::require_admin;
use skiff_proto::v1::api_server::{Api, ApiServer};
use skiff_proto::v1::{
    ApplyRequest, ApplyResponse, ApplyResult, DeleteRequest, DeleteResponse, ExecInput, ExecOutput,
    GetRequest, LabelRequest, ListRequest, ListResponse, LogChunk, LogsRequest, Object, WatchEvent,
    WatchRequest,
};
// workloads
use skiff_proto::v1::{
    RolloutHistoryRequest, RolloutHistoryResponse, RolloutPauseRequest, RolloutUndoRequest,
    RolloutUndoResponse, ScaleRequest, SetImageRequest,
};
// nodes
use skiff_proto::v1::{CordonRequest, CordonResponse, EvictRequest, TaintRequest, TaintResponse};
use tonic::{Request, Response, Status};
use tracing::{debug, info, info_span, warn, Instrument, Span};

use super::{relay, wire};
use crate::core::{Clock, ControlPlane, Error, Ranges, SystemClock};
use crate::resources::{
    apply_with, cordon, delete, evict, get, history, label, list, pause, scale, set_image, taint,
    undo, watch, Scope,
};
use crate::store::Store;

/// The Api service over the control plane's store.
pub struct ApiService {
    cp: Arc<ControlPlane>,
    /// Where Services' ClusterIPs and NodePorts come from, for every write.
    ranges: Ranges,
    /// Stamps creation and deletion times on what the verbs write.
    clock: Arc<dyn Clock>,
}

/// The tonic server for [`ApiService`], ready for `Server::add_service`.
pub fn api_service(cp: Arc<ControlPlane>) -> ApiServer<ApiService> {
    let ranges = cp.config.service_ranges();
    ApiServer::new(ApiService {
        cp,
        ranges,
        clock: Arc::new(SystemClock),
    })
}

impl ApiService {
    fn store(&self) -> &dyn Store {
        self.cp.store.as_ref()
    }
}

/// Runs one request's work inside its span and logs how it failed, if it did: the
/// caller's mistakes at debug, the server's own trouble at warn.
async fn traced<T>(span: Span, work: impl Future<Output = Result<T, Error>>) -> Result<T, Status> {
    let result = work.instrument(span.clone()).await;
    if let Err(e) = &result {
        let _entered = span.enter();
        match e {
            Error::Unavailable(_) | Error::Internal(_) => warn!(error = %e, "request failed"),
            _ => debug!(error = %e, "request refused"),
        }
    }
    result.map_err(Status::from)
}

#[tonic::async_trait]
impl Api for ApiService {
    async fn apply(&self, req: Request<ApplyRequest>) -> Result<Response<ApplyResponse>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span =
            info_span!("api", method = "apply", source = %req.source, namespace = %req.namespace);
        let work = apply_with(
            self.store(),
            self.clock.as_ref(),
            &self.ranges,
            &req.source,
            &req.manifest,
            &req.namespace,
        );
        let results = traced(span, work)
            .await?
            .into_iter()
            .map(|r| ApplyResult {
                object: Some(r.object.into()),
                action: r.action.as_str().to_string(),
            })
            .collect();
        Ok(Response::new(ApplyResponse { results }))
    }

    async fn get(&self, req: Request<GetRequest>) -> Result<Response<Object>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "get", kind = %req.kind, namespace = %req.namespace, name = %req.name);
        let work = get(self.store(), &req.kind, &req.namespace, &req.name);
        Ok(Response::new(traced(span, work).await?.into()))
    }

    async fn list(&self, req: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "list", kind = %req.kind, namespace = %req.namespace, all = req.all_namespaces, selector = %req.label_selector);
        let work = async {
            let scope = Scope::new(
                &req.kind,
                &req.namespace,
                req.all_namespaces,
                &req.label_selector,
            )?;
            list(self.store(), &scope).await
        };
        let (items, revision) = traced(span, work).await?;
        Ok(Response::new(ListResponse {
            items: items.into_iter().map(Into::into).collect(),
            resource_version: revision.to_string(),
        }))
    }

    async fn delete(
        &self,
        req: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "delete", kind = %req.kind, namespace = %req.namespace, name = %req.name);
        let work = delete(
            self.store(),
            self.clock.as_ref(),
            &req.kind,
            &req.namespace,
            &req.name,
            &req.propagation,
        );
        let object = traced(span, work).await?;
        Ok(Response::new(DeleteResponse {
            object: Some(object.into()),
        }))
    }

    type WatchStream = BoxStream<'static, Result<WatchEvent, Status>>;

    async fn watch(
        &self,
        req: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "watch", kind = %req.kind, namespace = %req.namespace, all = req.all_namespaces, from = %req.resource_version);
        let work = async {
            let scope = Scope::new(
                &req.kind,
                &req.namespace,
                req.all_namespaces,
                &req.label_selector,
            )?;
            watch(self.store(), scope, &req.resource_version).await
        };
        let events = traced(span.clone(), work).await?;
        debug!(parent: &span, "watch started");
        let events = events.map(move |event| {
            event.map(Into::into).map_err(|e| {
                info!(parent: &span, error = %e, "watch ended");
                Status::from(e)
            })
        });
        Ok(Response::new(events.boxed()))
    }

    async fn label(&self, req: Request<LabelRequest>) -> Result<Response<Object>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "label", kind = %req.kind, namespace = %req.namespace, name = %req.name);
        let work = label(
            self.store(),
            self.clock.as_ref(),
            &self.ranges,
            &req.kind,
            &req.namespace,
            &req.name,
            &req.labels,
            req.overwrite,
        );
        Ok(Response::new(traced(span, work).await?.into()))
    }

    // workloads: scale, images, rollouts (scale.rs, rollout.rs)

    async fn scale(&self, req: Request<ScaleRequest>) -> Result<Response<Object>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "scale", kind = %req.kind, namespace = %req.namespace, name = %req.name, replicas = req.replicas);
        let work = scale(
            self.store(),
            self.clock.as_ref(),
            &self.ranges,
            &req.kind,
            &req.namespace,
            &req.name,
            req.replicas,
            &req.resource_version,
        );
        Ok(Response::new(traced(span, work).await?.into()))
    }

    async fn set_image(&self, req: Request<SetImageRequest>) -> Result<Response<Object>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "set_image", kind = %req.kind, namespace = %req.namespace, name = %req.name);
        let work = set_image(
            self.store(),
            self.clock.as_ref(),
            &self.ranges,
            &req.kind,
            &req.namespace,
            &req.name,
            &req.images,
        );
        Ok(Response::new(traced(span, work).await?.into()))
    }

    async fn rollout_history(
        &self,
        req: Request<RolloutHistoryRequest>,
    ) -> Result<Response<RolloutHistoryResponse>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "rollout_history", namespace = %req.namespace, name = %req.name);
        let work = history(self.store(), &req.namespace, &req.name, req.revision);
        let revisions = traced(span, work).await?;
        let revisions = revisions.into_iter().map(Into::into).collect();
        Ok(Response::new(RolloutHistoryResponse { revisions }))
    }

    async fn rollout_undo(
        &self,
        req: Request<RolloutUndoRequest>,
    ) -> Result<Response<RolloutUndoResponse>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "rollout_undo", namespace = %req.namespace, name = %req.name, to_revision = req.to_revision);
        let work = undo(
            self.store(),
            self.clock.as_ref(),
            &self.ranges,
            &req.namespace,
            &req.name,
            req.to_revision,
        );
        let undone = traced(span, work).await?;
        Ok(Response::new(RolloutUndoResponse {
            object: Some(undone.object.into()),
            skipped: undone.skipped,
            revision: undone.revision,
        }))
    }

    async fn rollout_pause(
        &self,
        req: Request<RolloutPauseRequest>,
    ) -> Result<Response<Object>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "rollout_pause", namespace = %req.namespace, name = %req.name, paused = req.paused);
        let work = pause(
            self.store(),
            self.clock.as_ref(),
            &self.ranges,
            &req.namespace,
            &req.name,
            req.paused,
        );
        Ok(Response::new(traced(span, work).await?.into()))
    }

    // nodes: cordon, taint, evict (nodes.rs, evict.rs)

    async fn cordon(
        &self,
        req: Request<CordonRequest>,
    ) -> Result<Response<CordonResponse>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "cordon", node = %req.name, unschedulable = req.unschedulable);
        let work = cordon(
            self.store(),
            self.clock.as_ref(),
            &self.ranges,
            &req.name,
            req.unschedulable,
        );
        let (object, changed) = traced(span, work).await?;
        Ok(Response::new(CordonResponse {
            object: Some(object.into()),
            changed,
        }))
    }

    async fn taint(&self, req: Request<TaintRequest>) -> Result<Response<TaintResponse>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "taint", node = %req.name, overwrite = req.overwrite);
        let add: Vec<_> = req.add.iter().map(wire::taint_of).collect();
        let remove: Vec<_> = req.remove.iter().map(wire::taint_of).collect();
        let work = taint(
            self.store(),
            self.clock.as_ref(),
            &self.ranges,
            &req.name,
            &add,
            &remove,
            req.overwrite,
        );
        let (object, operation) = traced(span, work).await?;
        Ok(Response::new(TaintResponse {
            object: Some(object.into()),
            operation: operation.as_str().to_string(),
        }))
    }

    async fn evict(&self, req: Request<EvictRequest>) -> Result<Response<Object>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "evict", namespace = %req.namespace, pod = %req.name, grace = ?req.grace_period_seconds);
        let work = evict(
            self.store(),
            self.clock.as_ref(),
            &req.namespace,
            &req.name,
            req.grace_period_seconds,
        );
        Ok(Response::new(traced(span, work).await?.into()))
    }

    type LogsStream = BoxStream<'static, Result<LogChunk, Status>>;

    /// Relayed from the pod's node (`super::relay`).
    async fn logs(&self, req: Request<LogsRequest>) -> Result<Response<Self::LogsStream>, Status> {
        require_admin(&req)?;
        let req = req.into_inner();
        let span = info_span!("api", method = "logs", namespace = %req.namespace, pod = %req.pod, container = %req.container, follow = req.follow);
        let stream = traced(span, relay::logs(&self.cp, req)).await?;
        Ok(Response::new(
            stream.map(|item| item.map_err(Status::from)).boxed(),
        ))
    }

    // exec (the cluster area)
    type ExecStream = BoxStream<'static, Result<ExecOutput, Status>>;

    /// Relayed to and from the pod's node (`super::relay`).
    async fn exec(
        &self,
        req: Request<tonic::Streaming<ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        require_admin(&req)?;
        let span = info_span!("api", method = "exec");
        let stream = traced(span, relay::exec(&self.cp, req.into_inner())).await?;
        Ok(Response::new(
            stream.map(|item| item.map_err(Status::from)).boxed(),
        ))
    }
}
