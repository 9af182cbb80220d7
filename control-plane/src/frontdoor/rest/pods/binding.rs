//! `POST .../pods/NAME/binding`: a scheduler's decision, `{"target": {"kind": "Node",
//! "name": ...}}`. A pod already bound stays where it is (409), as kube-apiserver.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::super::body;
use super::super::objects::Target;
use super::super::reply::{self, Body};
use super::super::status::{self, RestError};
use super::super::Ctx;
use crate::core::objects::{modify, pod_node, set_pod_condition, Modified};

pub async fn bind(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(&parts.headers, incoming).await?;
    let binding = body::decode_object(&parts.headers, &bytes)?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            RestError::invalid(
                "Binding is invalid: target.name: Required value",
                vec![serde_json::json!({"reason": "FieldValueRequired", "field": "target.name"})],
            )
        })?
        .to_string();
    let key = target.key(name);
    let now = ctx.clock.now();
    let mut bound_elsewhere = None;
    let written = modify::<Pod, _>(ctx.cp.store.as_ref(), &key, None, |pod| {
        if let Some(current) = pod_node(pod) {
            bound_elsewhere = Some(current.to_string());
            return Ok(false);
        }
        pod.spec.get_or_insert_with(Default::default).node_name = Some(node.clone());
        set_pod_condition(pod, "PodScheduled", "True", None, None, now);
        Ok(true)
    })
    .await
    .map_err(|e| target.refusal(name, e))?;
    match (written, bound_elsewhere) {
        (Modified::Written(_), _) => Ok(reply::json(
            StatusCode::CREATED,
            &status::success(serde_json::json!({})),
        )),
        (_, Some(current)) => Err(RestError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!("Operation cannot be fulfilled on pods/binding {name:?}: pod {name} is already assigned to node {current:?}"),
        )),
        _ => Err(target.not_found(name)),
    }
}
