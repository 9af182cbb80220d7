//! `POST .../pods/NAME/eviction`: `kubectl drain`'s request, a `policy/v1 Eviction` with
//! optional `deleteOptions`. Without PodDisruptionBudgets nothing can refuse it but a
//! mirror pod (`resources::evict`).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::super::body;
use super::super::objects::Target;
use super::super::reply::{self, Body};
use super::super::status::RestError;
use super::super::Ctx;
use crate::resources;

pub async fn evict(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(&parts.headers, incoming).await?;
    let eviction = body::decode_object(&parts.headers, &bytes)?;
    if let Some(named) = eviction.pointer("/metadata/name").and_then(Value::as_str) {
        if named != name {
            return Err(RestError::bad_request(format!(
                "name in URL does not match name in Eviction object ({name} vs {named})"
            )));
        }
    }
    let grace = eviction
        .pointer("/deleteOptions/gracePeriodSeconds")
        .and_then(Value::as_i64);
    let key = target.key(name);
    resources::evict(
        ctx.cp.store.as_ref(),
        ctx.clock.as_ref(),
        &key.namespace,
        name,
        grace,
    )
    .await
    .map_err(|e| target.refusal(name, e))?;
    Ok(reply::json(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}
