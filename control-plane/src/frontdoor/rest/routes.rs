//! The one dispatch table of the REST front door: non-resource paths first, then a
//! resource's kind from the registry (`proto/src/kinds.rs`) by group, version and
//! plural, then its subresource. Every front door piece adds its routes here.

use http::{Method, Request, Response};
use hyper::body::Incoming;
use skiff_proto::kinds::{KindInfo, KINDS};

use super::authz;
use super::objects::{self, Target};
use super::pods;
use super::reply::Body;
use super::reviews;
use super::route::Route;
use super::scale;
use super::status::RestError;
use super::Ctx;
use crate::core::Kind;

/// What kube-apiserver answers for a path it has nothing at.
fn nothing_here() -> RestError {
    RestError::not_found("the server could not find the requested resource")
}

pub async fn dispatch(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<Body>, RestError> {
    let route = Route::parse(req.uri().path());
    authz::authorize(ctx, &authz::attributes(&ctx.user, &req, route.as_ref()))?;
    if let Some(answer) = super::discovery::serve(ctx, &req).await {
        return answer;
    }
    let Some(route) = route else {
        return Err(nothing_here());
    };
    let info = kind_of(&route)?;
    let target = Target {
        route: &route,
        info,
        kind: Kind::of(info.kind),
    };
    let verb = verb(req.method(), &route, req.uri().query());
    let allowed = match route.subresource.as_deref() {
        None => Some(info.verbs),
        Some(sub) => info.subresource(sub).map(|s| s.verbs),
    };
    match allowed {
        None => return Err(nothing_here()),
        Some(verbs) if !verbs.contains(&verb) => {
            return Err(RestError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({verb} {})",
                route.qualified_resource()
            )))
        }
        Some(_) => {}
    }
    let name = route.name.as_deref().unwrap_or_default();
    let method = req.method().clone();
    let protobuf = super::protobuf::wanted(req.headers());
    let answer = match (info.kind, route.subresource.as_deref()) {
        ("SelfSubjectAccessReview", None) => reviews::access(ctx, req).await,
        ("SelfSubjectRulesReview", None) => reviews::rules(ctx, req).await,
        (_, None | Some("status")) => objects::handle(ctx, &target, req).await,
        (_, Some("scale")) if info.subresource("scale").is_some() => {
            scale::handle(ctx, &target, name, req).await
        }
        ("ServiceAccount", Some("token")) if req.method() == Method::POST => {
            let namespace = route.namespace.as_deref().unwrap_or_default();
            super::token_request::create(ctx, namespace, name, req).await
        }
        ("Pod", Some("binding")) if req.method() == Method::POST => {
            pods::binding::bind(ctx, &target, name, req).await
        }
        ("Pod", Some("eviction")) if req.method() == Method::POST => {
            pods::eviction::evict(ctx, &target, name, req).await
        }
        ("Pod", Some("portforward")) if matches!(*req.method(), Method::GET | Method::POST) => {
            pods::portforward::handle(ctx, &target, name, req).await
        }
        ("Pod", Some("log")) if req.method() == Method::GET => {
            pods::log::handle(ctx, &target, name, req).await
        }
        ("Pod", Some(sub @ ("exec" | "attach")))
            if matches!(*req.method(), Method::GET | Method::POST) =>
        {
            pods::exec::handle(ctx, &target, name, req, sub == "attach").await
        }
        _ => Err(nothing_here()),
    };
    if answer.as_ref().is_ok_and(|r| r.status().is_success()) {
        authz::settle(ctx, info.kind, &method).await;
    }
    match answer {
        Ok(response) if protobuf => Ok(super::protobuf::answer(verb == "watch", response).await),
        other => other,
    }
}

/// The served kind a route names; a namespaced path to a cluster-scoped kind names none.
fn kind_of(route: &Route) -> Result<&'static KindInfo, RestError> {
    KINDS
        .iter()
        .find(|k| {
            k.group == route.group && k.version == route.version && k.plural == route.resource
        })
        .filter(|k| k.namespaced || route.namespace.is_none())
        .ok_or_else(nothing_here)
}

/// The Kubernetes verb of a request, for authorization and the kind's verbs (a
/// subresource's GET is `get`, as in discovery; exec, attach and port-forward upgrade
/// from a GET or a POST, which discovery lists as `get` and `create`).
pub(super) fn verb(method: &Method, route: &Route, query: Option<&str>) -> &'static str {
    let watching = route.watch_path
        || super::route::Query::parse(query)
            .flag("watch")
            .unwrap_or(false);
    match (method, route.name.is_some()) {
        (&Method::GET, _) if watching && route.subresource.is_none() => "watch",
        (&Method::GET, true) => "get",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
}
