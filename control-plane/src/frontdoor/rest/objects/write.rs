//! create (POST) and update (PUT) of one object, and PUT of its `status`.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;

use super::super::body;
use super::super::reply::{self, Body};
use super::super::route::Query;
use super::super::status::RestError;
use super::super::Ctx;
use super::fields::{self, Validation};
use super::managers::{self, Options};
use super::{dry_run, Target};
use crate::resources::{self, Part};

/// Reads and checks a body that must be an object of the target's kind.
async fn object_body(
    target: &Target<'_>,
    query: &Query,
    req: Request<Incoming>,
) -> Result<(Value, Vec<String>), RestError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(&parts.headers, incoming).await?;
    let mut value = body::decode_object(&parts.headers, &bytes)?;
    fill_type(target, &mut value)?;
    fields::check(value, Validation::of(query)?, target.info.kind)
}

/// A body's namespace, when it names one, must be the request's.
pub(super) fn check_namespace(target: &Target<'_>, value: &Value) -> Result<(), RestError> {
    let wanted = target.route.namespace.as_deref().unwrap_or_default();
    match value.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() && target.kind.namespaced && ns != wanted => {
            Err(RestError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ))
        }
        _ => Ok(()),
    }
}

/// Fills a body's missing `apiVersion` and `kind` from the target, and refuses other ones.
pub(super) fn fill_type(target: &Target<'_>, value: &mut Value) -> Result<(), RestError> {
    let info = target.info;
    let api_version = info.api_version();
    match value.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => value["apiVersion"] = Value::from(api_version.clone()),
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(RestError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )))
        }
    }
    match value.get("kind").and_then(Value::as_str) {
        None | Some("") => value["kind"] = Value::from(info.kind),
        Some(k) if k == info.kind => {}
        Some(k) => {
            return Err(RestError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )))
        }
    }
    Ok(())
}

/// `POST .../pods`: 201 with the created object.
pub async fn create(
    ctx: &Ctx,
    target: &Target<'_>,
    query: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let dry = dry_run(query)?;
    if target.kind.namespaced && target.route.namespace.is_none() {
        return Err(RestError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {} are created in a namespace",
            target.info.plural
        )));
    }
    let manager = managers::updater(target, query, req.headers(), Options::Create)?;
    let (value, warnings) = object_body(target, query, req).await?;
    let namespace = target.route.namespace.as_deref().unwrap_or_default();
    super::super::authz::admit_rbac(ctx, target.info.kind, namespace, &value)?;
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let created = resources::create(
        ctx.cp.store.as_ref(),
        ctx.clock.as_ref(),
        &ctx.ranges,
        value,
        target.route.namespace.as_deref(),
        dry,
        Some(&manager),
    )
    .await
    .map_err(|e| match e {
        crate::core::Error::AlreadyExists(_) | crate::core::Error::PermissionDenied(_) => {
            target.refusal(&name, e)
        }
        e => RestError::from(e).about(target.info.group, target.info.plural, &name),
    })?;
    let mut response = reply::bytes_with(StatusCode::CREATED, reply::JSON, created.json);
    fields::warn(&mut response, &warnings);
    Ok(response)
}

/// `PUT .../pods/web` (or `.../pods/web/status`): 200 with the object as stored.
pub async fn update(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    part: Part,
    query: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let dry = dry_run(query)?;
    let manager = managers::updater(target, query, req.headers(), Options::Update)?;
    let (value, warnings) = object_body(target, query, req).await?;
    match value.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n == name => {}
        other => {
            return Err(RestError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                other.unwrap_or_default()
            )))
        }
    }
    let key = target.key(name);
    super::super::authz::admit_rbac(ctx, target.info.kind, &key.namespace, &value)?;
    check_namespace(target, &value)?;
    let precondition = crate::resources::objects::parse_revision(
        value
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
    .map_err(|e| RestError::bad_request(e.to_string()))?;
    let replaced = resources::replace(
        ctx.cp.store.as_ref(),
        ctx.clock.as_ref(),
        &ctx.ranges,
        &key,
        value,
        precondition,
        part,
        dry,
        Some(&manager),
    )
    .await
    .map_err(|e| target.refusal(name, e))?;
    let mut response = reply::bytes_with(StatusCode::OK, reply::JSON, replaced.json);
    fields::warn(&mut response, &warnings);
    Ok(response)
}
