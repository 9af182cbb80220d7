//! Authorization of every REST request by RBAC (`crate::rbac`): the request's attributes
//! as kube-apiserver's `RequestInfoFactory` derives them, kube's 403 `Status` when no
//! rule grants them, and the escalation check on writes of roles and bindings.

use std::time::Duration;

use http::{Method, Request, StatusCode};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role, RoleRef};
use serde_json::Value;

use super::route::{Query, Route};
use super::status::RestError;
use super::{Ctx, User};
use crate::rbac::{escalation, Attributes, Decision};

/// Subresources that upgrade to a stream: kube-apiserver asks for `create` on them
/// whichever method the upgrade came with (kubectl 1.33 sends a WebSocket GET).
const STREAMING: [&str; 3] = ["exec", "attach", "portforward"];

/// How long a write of a role or binding waits for the index to have it, so that the
/// caller's next request is judged by it.
const SETTLE: Duration = Duration::from_secs(2);

/// The attributes of `req` by `user`; `route` is its parsed resource path, if any.
pub fn attributes<B>(user: &User, req: &Request<B>, route: Option<&Route>) -> Attributes {
    let mut attrs = Attributes {
        user: user.name.clone(),
        groups: user.groups.clone(),
        path: req.uri().path().to_string(),
        ..Attributes::default()
    };
    let Some(route) = route else {
        attrs.verb = req.method().as_str().to_ascii_lowercase();
        return attrs;
    };
    attrs.resource_request = true;
    attrs.api_group = route.group.clone();
    attrs.resource = route.resource.clone();
    attrs.subresource = route.subresource.clone().unwrap_or_default();
    attrs.name = route.name.clone().unwrap_or_default();
    attrs.namespace = route.namespace.clone().unwrap_or_default();
    // A namespace's own path is in that namespace (kube's RequestInfo does the same).
    if route.group.is_empty() && route.resource == "namespaces" && route.namespace.is_none() {
        attrs.namespace = attrs.name.clone();
    }
    attrs.verb = super::routes::verb(req.method(), route, req.uri().query()).to_string();
    if route.resource == "pods" && STREAMING.contains(&attrs.subresource.as_str()) {
        attrs.verb = "create".into();
    }
    // A list or watch of one name by fieldSelector is about that name.
    if attrs.name.is_empty() && matches!(attrs.verb.as_str(), "list" | "watch") {
        let query = Query::parse(req.uri().query());
        if let Some(name) = query
            .get("fieldSelector")
            .and_then(|s| s.strip_prefix("metadata.name="))
            .filter(|n| !n.is_empty() && !n.contains([',', '/', '%']))
        {
            attrs.name = name.to_string();
        }
    }
    attrs
}

/// Ok when RBAC grants the request, else kube-apiserver's 403.
pub fn authorize(ctx: &Ctx, attrs: &Attributes) -> Result<(), RestError> {
    match ctx.authorizer.authorize(attrs) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(reason) => Err(forbidden(attrs, &reason)),
    }
}

/// `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the
/// namespace "default"`, as kube-apiserver's `forbiddenMessage` and `NewForbidden` say it.
pub fn forbidden(attrs: &Attributes, reason: &str) -> RestError {
    let what = if !attrs.resource_request {
        format!(
            "User {:?} cannot {} path {:?}",
            attrs.user, attrs.verb, attrs.path
        )
    } else {
        let scope = match attrs.namespace.as_str() {
            "" => "at the cluster scope".to_string(),
            ns => format!("in the namespace {ns:?}"),
        };
        format!(
            "User {:?} cannot {} resource {:?} in API group {:?} {scope}",
            attrs.user,
            attrs.verb,
            attrs.combined_resource(),
            attrs.api_group
        )
    };
    let what = match reason {
        "" => what,
        reason => format!("{what}: {reason}"),
    };
    let resource = match attrs.api_group.as_str() {
        "" => attrs.resource.clone(),
        group => format!("{}.{group}", attrs.resource),
    };
    let message = match (attrs.resource.is_empty(), attrs.name.is_empty()) {
        (true, _) => format!("forbidden: {what}"),
        (false, true) => format!("{resource} is forbidden: {what}"),
        (false, false) => format!("{resource} {:?} is forbidden: {what}", attrs.name),
    };
    RestError::new(StatusCode::FORBIDDEN, "Forbidden", message).about(
        &attrs.api_group,
        &attrs.resource,
        &attrs.name,
    )
}

/// What a write of a Role, ClusterRole, RoleBinding or ClusterRoleBinding (`value`, in
/// `namespace`) would grant, and whether its writer may: they hold it all, or may
/// `escalate` (roles) or `bind` (the role a binding names). Other kinds pass.
pub fn admit_rbac(ctx: &Ctx, kind: &str, namespace: &str, value: &Value) -> Result<(), RestError> {
    let user = &ctx.user;
    if user.is_admin()
        || !matches!(
            kind,
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
        )
    {
        return Ok(());
    }
    let namespace = match kind {
        "Role" | "RoleBinding" => namespace,
        _ => "",
    };
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = match kind {
        "Role" => "roles",
        "ClusterRole" => "clusterroles",
        "RoleBinding" => "rolebindings",
        _ => "clusterrolebindings",
    };
    let may = |verb: &str, resource: &str, object: &str| {
        ctx.authorizer
            .authorize(&Attributes {
                user: user.name.clone(),
                groups: user.groups.clone(),
                verb: verb.into(),
                resource_request: true,
                namespace: namespace.into(),
                api_group: "rbac.authorization.k8s.io".into(),
                resource: resource.into(),
                name: object.into(),
                ..Attributes::default()
            })
            .allowed()
    };
    let refuse = |detail: String| {
        RestError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("{plural}.rbac.authorization.k8s.io {name:?} is forbidden: {detail}"),
        )
        .about("rbac.authorization.k8s.io", plural, name)
    };
    let wanted: Vec<PolicyRule> = match kind {
        "Role" | "ClusterRole" => {
            if may("escalate", plural, name) {
                return Ok(());
            }
            value
                .get("rules")
                .cloned()
                .and_then(|r| serde_json::from_value(r).ok())
                .unwrap_or_default()
        }
        _ => {
            let role_ref: RoleRef = value
                .get("roleRef")
                .cloned()
                .and_then(|r| serde_json::from_value(r).ok())
                .ok_or_else(|| RestError::bad_request("roleRef: Required value"))?;
            let resource = match role_ref.kind.as_str() {
                "Role" => "roles",
                _ => "clusterroles",
            };
            if may("bind", resource, &role_ref.name) {
                return Ok(());
            }
            role_rules(ctx, &role_ref, namespace).map_err(refuse)?
        }
    };
    let held = ctx
        .authorizer
        .rules_for(&user.name, &user.groups, namespace);
    let missing = escalation::not_held(&held, &wanted);
    if missing.is_empty() {
        return Ok(());
    }
    let rules: Vec<String> = missing.iter().map(escalation::compact).collect();
    Err(refuse(format!(
        "user {:?} (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        user.groups,
        rules.join("\n")
    )))
}

/// The rules of the role a binding names, from the index.
fn role_rules(ctx: &Ctx, role_ref: &RoleRef, namespace: &str) -> Result<Vec<PolicyRule>, String> {
    let snapshot = ctx.authorizer.index().snapshot();
    let found = match role_ref.kind.as_str() {
        "Role" => snapshot
            .roles
            .get(&(namespace.to_string(), role_ref.name.clone()))
            .map(|r: &Role| r.rules.clone()),
        _ => snapshot
            .cluster_roles
            .get(&role_ref.name)
            .map(|r: &ClusterRole| r.rules.clone()),
    };
    found.map(Option::unwrap_or_default).ok_or_else(|| {
        format!(
            "{}.rbac.authorization.k8s.io {:?} not found",
            role_ref.kind.to_ascii_lowercase(),
            role_ref.name
        )
    })
}

/// After a successful write of an RBAC object, waits until the authorizer has it.
pub async fn settle(ctx: &Ctx, kind: &str, method: &Method) {
    let writes = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if writes && crate::rbac::RBAC_KINDS.contains(&kind) {
        ctx.authorizer
            .index()
            .caught_up(ctx.cp.store.as_ref(), SETTLE)
            .await;
    }
}
