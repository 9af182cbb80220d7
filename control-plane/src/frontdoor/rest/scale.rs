//! The `scale` subresource of Deployments, ReplicaSets and StatefulSets: an
//! `autoscaling/v1 Scale` read from and written to the object's `spec.replicas`
//! (`kubectl scale`, autoscalers).

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::body;
use super::objects::{patch, Target};
use super::reply::{self, Body};
use super::status::RestError;
use super::Ctx;
use crate::resources;

pub async fn handle(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let key = target.key(name);
    let store = ctx.cp.store.as_ref();
    match req.method().clone() {
        Method::GET => {}
        Method::PUT => {
            let (parts, incoming) = req.into_parts();
            let bytes = body::read(&parts.headers, incoming).await?;
            let wanted = body::decode_object(&parts.headers, &bytes)?;
            let replicas = replicas_of(&wanted)?;
            let resource_version = wanted
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            resources::scale(
                store,
                ctx.clock.as_ref(),
                &ctx.ranges,
                key.kind.as_str(),
                &key.namespace,
                name,
                replicas,
                resource_version,
            )
            .await
            .map_err(|e| target.refusal(name, e))?;
        }
        Method::PATCH => {
            let query = super::route::Query::parse(req.uri().query());
            let (patch_type, bytes, _, _) = patch::read_patch(&query, req).await?;
            let current = resources::get(store, key.kind.as_str(), &key.namespace, name)
                .await
                .map_err(|e| target.refusal(name, e))?;
            let value: Value = serde_json::from_slice(&current.json)
                .map_err(|e| RestError::from(crate::core::Error::Internal(e.to_string())))?;
            let patched = patch_type
                .apply(&scale_of(&value), &bytes, "Scale")
                .map_err(patch::refused)?;
            let replicas = replicas_of(&patched)?;
            // Only a resourceVersion the patch itself names is a precondition; otherwise
            // the new count goes onto whatever the controllers wrote meanwhile.
            let pinned = patched
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|rv| *rv != current.resource_version)
                .unwrap_or_default();
            resources::scale(
                store,
                ctx.clock.as_ref(),
                &ctx.ranges,
                key.kind.as_str(),
                &key.namespace,
                name,
                replicas,
                pinned,
            )
            .await
            .map_err(|e| target.refusal(name, e))?;
        }
        method => {
            return Err(RestError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({method} scale)"
            )))
        }
    }
    let object = resources::get(store, key.kind.as_str(), &key.namespace, name)
        .await
        .map_err(|e| target.refusal(name, e))?;
    let value: Value = serde_json::from_slice(&object.json)
        .map_err(|e| RestError::from(crate::core::Error::Internal(e.to_string())))?;
    Ok(reply::json(StatusCode::OK, &scale_of(&value)))
}

/// `spec.replicas` of a Scale body: a non-negative integer.
pub fn replicas_of(scale: &Value) -> Result<i32, RestError> {
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                RestError::invalid(
                    format!("Scale.autoscaling {:?} is invalid: spec.replicas: Invalid value: {v}: must be greater than or equal to 0",
                        scale.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()),
                    vec![json!({"reason": "FieldValueInvalid", "field": "spec.replicas"})],
                )
            }),
    }
}

/// The Scale of a workload object.
pub fn scale_of(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = object
        .pointer("/spec/selector")
        .map(format_selector)
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// A LabelSelector in the text form selectors are written in (`app=web,tier in (a,b)`),
/// as Kubernetes' `FormatLabelSelector`.
fn format_selector(selector: &Value) -> String {
    let mut terms: Vec<String> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            terms.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for expression in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        terms.push(match expression["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        });
    }
    terms.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_reads_as_its_scale() {
        let deployment = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "9"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}},
            "status": {"replicas": 2},
        });
        let scale = scale_of(&deployment);
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(scale["status"]["replicas"], 2);
        assert_eq!(scale["status"]["selector"], "app=web,tier in (a,b)");
        assert_eq!(scale["metadata"]["resourceVersion"], "9");
        assert_eq!(replicas_of(&json!({"spec": {"replicas": 5}})).unwrap(), 5);
        assert_eq!(
            replicas_of(&json!({"spec": {"replicas": -1}}))
                .unwrap_err()
                .code,
            422
        );
    }
}
