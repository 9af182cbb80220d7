//! `GET .../pods/NAME/log`: the container's log as text/plain, chunked while `follow`
//! lasts. The options and the container are checked here as kube-apiserver checks them;
//! which run's log is served, and the refusals for a container that has none yet, are
//! the agent's, in the kubelet's words (`agent/src/api/log_source.rs`).

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use k8s_openapi::api::core::v1::Pod;
use skiff_proto::v1::LogsRequest;
use tracing::debug;

use super::super::objects::Target;
use super::super::reply::{self, Body};
use super::super::route::Query;
use super::super::status::RestError;
use super::super::Ctx;
use super::options::{pick_container, LogOptions, OptionsError};
use super::{node_refusal, options_refusal, read_pod};
use crate::frontdoor::relay;

const TEXT: &str = "text/plain";

pub async fn handle(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let query = Query::parse(req.uri().query());
    let opts = LogOptions::parse(query.pairs()).map_err(|e| log_refusal(name, e))?;
    let pod: Pod = read_pod(ctx, target, name).await?;
    let container =
        pick_container(&pod, opts.container.as_deref(), false).map_err(options_refusal)?;
    // A pod not on a node yet has no log: kube-apiserver answers an empty one.
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_none()
    {
        return Ok(reply::bytes_with(StatusCode::OK, TEXT, Bytes::new()));
    }
    let request = LogsRequest {
        namespace: target.key(name).namespace,
        pod: name.to_string(),
        container,
        follow: opts.follow,
        previous: opts.previous,
        tail_lines: opts.tail_lines.unwrap_or(-1),
        limit_bytes: opts.limit_bytes.unwrap_or(0),
        since_seconds: opts.since_seconds.unwrap_or(0),
        since_time: opts.since_time.clone().unwrap_or_default(),
        timestamps: opts.timestamps,
    };
    let chunks = relay::logs(&ctx.cp, request).await.map_err(node_refusal)?;
    debug!(pod = %name, follow = opts.follow, "log stream opened");
    let body = chunks.map(|chunk| chunk.map(|c| Bytes::from(c.data)));
    let mut response = reply::stream(TEXT, body);
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

/// kube-apiserver's 422 for `PodLogOptions` out of range, naming the field.
fn log_refusal(name: &str, e: OptionsError) -> RestError {
    match e {
        OptionsError::Invalid { field, message } => RestError::invalid(
            format!("PodLogOptions {name:?} is invalid: {field}: {message}"),
            vec![serde_json::json!({
                "reason": "FieldValueInvalid",
                "message": message,
                "field": field,
            })],
        )
        .about("", "PodLogOptions", name),
        e => options_refusal(e),
    }
}
