//! delete and deletecollection with `DeleteOptions` from the body or the query:
//! `propagationPolicy` (Background, Foreground, Orphan; the old `orphanDependents`),
//! `gracePeriodSeconds` (a pod's containers get that long to stop), `preconditions`
//! (uid, resourceVersion) and `dryRun`.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::super::body;
use super::super::reply::{self, Body};
use super::super::route::Query;
use super::super::status::{self, RestError};
use super::super::Ctx;
use super::read::scope;
use super::{dry_run, Target};
use crate::resources::{self, Object};

/// The options of one delete, merged from the body and the query (the query wins).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Options {
    propagation: String,
    grace_period: Option<i64>,
    uid: Option<String>,
    resource_version: Option<String>,
    dry_run: bool,
}

async fn options(query: &Query, req: Request<Incoming>) -> Result<Options, RestError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(&parts.headers, incoming).await?;
    let body: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        body::decode_object(&parts.headers, &bytes)?
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut propagation = text(body.get("propagationPolicy")).unwrap_or_default();
    if body.get("orphanDependents") == Some(&Value::Bool(true)) || query.flag("orphanDependents")? {
        propagation = "Orphan".into();
    }
    if let Some(p) = query.get("propagationPolicy").filter(|p| !p.is_empty()) {
        propagation = p.to_string();
    }
    if !["", "Background", "Foreground", "Orphan"].contains(&propagation.as_str()) {
        return Err(RestError::invalid(
            format!("propagationPolicy: Unsupported value: {propagation:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""),
            vec![json!({"reason": "FieldValueNotSupported", "field": "propagationPolicy"})],
        ));
    }
    let grace_period = match query.int("gracePeriodSeconds")? {
        Some(g) => Some(g),
        None => body.get("gracePeriodSeconds").and_then(Value::as_i64),
    };
    if let Some(g) = grace_period.filter(|g| *g < 0) {
        return Err(RestError::invalid(
            format!("gracePeriodSeconds: Invalid value: {g}: must be greater than or equal to 0"),
            vec![json!({"reason": "FieldValueInvalid", "field": "gracePeriodSeconds"})],
        ));
    }
    let dry = dry_run(query)?
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|x| x == "All"));
    Ok(Options {
        propagation,
        grace_period,
        uid: text(body.pointer("/preconditions/uid")),
        resource_version: text(body.pointer("/preconditions/resourceVersion")),
        dry_run: dry,
    })
}

/// `DELETE .../pods/web`.
pub async fn delete(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    query: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let options = options(query, req).await?;
    let last = delete_one(ctx, target, name, &options).await?;
    Ok(deleted(target, &last))
}

async fn delete_one(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    options: &Options,
) -> Result<Object, RestError> {
    let key = target.key(name);
    let store = ctx.cp.store.as_ref();
    let refused = |e| target.refusal(name, e);
    let current = resources::get(store, key.kind.as_str(), &key.namespace, name)
        .await
        .map_err(refused)?;
    let conflict = |what: &str, wanted: &str, actual: &str| {
        RestError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {actual}",
                target.route.qualified_resource()
            ),
        )
        .about(target.info.group, target.info.plural, name)
    };
    if let Some(uid) = options.uid.as_deref().filter(|u| *u != current.uid) {
        return Err(conflict("UID", uid, &current.uid));
    }
    if let Some(rv) = options
        .resource_version
        .as_deref()
        .filter(|rv| *rv != current.resource_version)
    {
        return Err(conflict("ResourceVersion", rv, &current.resource_version));
    }
    if options.dry_run {
        return Ok(current);
    }
    let clock = ctx.clock.as_ref();
    let result = match (key.kind.as_str(), options.grace_period) {
        ("Pod", Some(grace)) if !is_mirror(&current) => {
            resources::evict(store, clock, &key.namespace, name, Some(grace)).await
        }
        _ => {
            resources::delete(
                store,
                clock,
                key.kind.as_str(),
                &key.namespace,
                name,
                &options.propagation,
            )
            .await
        }
    };
    result.map_err(refused)
}

fn is_mirror(object: &Object) -> bool {
    serde_json::from_slice::<Value>(&object.json)
        .ok()
        .and_then(|v| {
            v.pointer("/metadata/annotations/kubernetes.io~1config.mirror")
                .cloned()
        })
        .is_some()
}

/// What a delete answers: the object while something of it is left (a pod, an object
/// held by finalizers, a namespace until its content is gone), else a `Status` of
/// success naming it, as kube-apiserver.
fn deleted(target: &Target<'_>, last: &Object) -> Response<Body> {
    let value: Value = serde_json::from_slice(&last.json).unwrap_or(Value::Null);
    let held = |list: &str| {
        value
            .pointer(list)
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    };
    let pending = value.pointer("/metadata/deletionTimestamp").is_some()
        && (held("/metadata/finalizers") || held("/spec/finalizers"));
    if pending || target.info.kind == "Pod" {
        return reply::bytes_with(StatusCode::OK, reply::JSON, last.json.clone());
    }
    let mut details = json!({"name": last.name, "kind": target.info.plural, "uid": last.uid});
    if !target.info.group.is_empty() {
        details["group"] = Value::from(target.info.group);
    }
    reply::json(StatusCode::OK, &status::success(details))
}

/// `DELETE .../pods?labelSelector=...`: every object in the scope; answers the list of
/// what was deleted.
pub async fn delete_collection(
    ctx: &Ctx,
    target: &Target<'_>,
    query: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let scope = scope(target, query)?;
    let options = options(query, req).await?;
    let (items, revision) = resources::list(ctx.cp.store.as_ref(), &scope)
        .await
        .map_err(RestError::from)?;
    let mut deleted = Vec::with_capacity(items.len());
    for item in &items {
        let ns_target = Target {
            route: &super::super::route::Route {
                namespace: Some(item.namespace.clone()).filter(|n| !n.is_empty()),
                ..target.route.clone()
            },
            info: target.info,
            kind: target.kind,
        };
        match delete_one(ctx, &ns_target, &item.name, &options).await {
            Ok(last) => {
                deleted.push(serde_json::from_slice::<Value>(&last.json).unwrap_or(Value::Null))
            }
            Err(e) if e.code == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(reply::json(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", target.info.kind),
            "apiVersion": target.info.api_version(),
            "metadata": {"resourceVersion": revision.to_string()},
            "items": deleted,
        }),
    ))
}
