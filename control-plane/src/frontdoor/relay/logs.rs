//! pods/log: the pod's agent's Logs stream, relayed chunk by chunk. With `follow` it
//! lasts as long as the agent's stream does, and ends when the client hangs up (dropping
//! the relay drops the agent call).

use futures::stream::BoxStream;
use futures::StreamExt;
use skiff_proto::v1::{LogChunk, LogsRequest};
use tracing::debug;

use super::{agent_error, dial, locate};
use crate::core::ControlPlane;
use crate::core::Error;

/// Opens the log stream of `req`'s pod on its node.
pub async fn logs(
    cp: &ControlPlane,
    req: LogsRequest,
) -> Result<BoxStream<'static, Result<LogChunk, Error>>, Error> {
    let target = locate(cp.store.as_ref(), &req.namespace, &req.pod).await?;
    let mut agent = dial(&cp.pki, &target).await?;
    let forwarded = LogsRequest {
        namespace: target.namespace.clone(),
        pod: target.pod.clone(),
        ..req
    };
    let stream = agent
        .logs(forwarded)
        .await
        .map_err(|status| agent_error(&target, status))?
        .into_inner();
    debug!(node = %target.node, pod = %target.pod, "log stream opened on the node");
    Ok(stream
        .map(move |item| item.map_err(|status| agent_error(&target, status)))
        .boxed())
}
