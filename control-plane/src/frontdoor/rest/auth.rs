//! Who is calling, for REST: the verified client certificate the listener recorded
//! (`frontdoor/server.rs`), or an `Authorization: Bearer` token. Nothing is anonymous:
//! a request with neither gets 401, as kube-apiserver with `--anonymous-auth=false`.
//!
//! Authorization is, until RBAC comes, "cluster administrators only": the admin
//! certificate (O `system:masters`) or the admin token. Nodes have their own gRPC
//! service and get 403 here.

use http::{header, Request, StatusCode};
use skiff_proto::auth::{Caller, ADMIN_GROUP};

use super::status::RestError;
use crate::core::ControlPlane;
use crate::frontdoor::server::ConnectInfo;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    fn admin() -> User {
        User {
            name: "admin".into(),
            groups: vec![ADMIN_GROUP.into(), "system:authenticated".into()],
        }
    }

    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == ADMIN_GROUP)
    }
}

/// The caller of `req`, or 401.
pub fn authenticate<B>(cp: &ControlPlane, req: &Request<B>) -> Result<User, RestError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        return match bearer(cp, token) {
            Some(user) => Ok(user),
            None => Err(unauthorized()),
        };
    }
    let leaf = req
        .extensions()
        .get::<ConnectInfo>()
        .and_then(|info| info.peer_certs())
        .and_then(|chain| chain.first().map(|c| c.to_vec()));
    match leaf.map(|der| Caller::from_certificate(&der)) {
        Some(Caller::Admin) => Ok(User::admin()),
        Some(Caller::Node(node)) => Ok(User {
            name: format!("{}{node}", skiff_proto::auth::NODE_CN_PREFIX),
            groups: vec![skiff_proto::auth::NODES_GROUP.into()],
        }),
        Some(Caller::ControlPlane) => Ok(User {
            name: skiff_proto::auth::CONTROL_PLANE_CN.into(),
            groups: vec![],
        }),
        Some(Caller::Unknown(cn)) => Ok(User {
            name: cn,
            groups: vec![],
        }),
        Some(Caller::Anonymous) | None => Err(unauthorized()),
    }
}

/// The user a bearer token stands for, if it is one this cluster issued: the admin
/// token (`<data-dir>/admin-token`, `pki/admin_token.rs`) is the administrator.
fn bearer(cp: &ControlPlane, token: &str) -> Option<User> {
    cp.pki.admin_token_matches(token).then(User::admin)
}

fn unauthorized() -> RestError {
    RestError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
}

/// 403 unless `user` may use the REST API (administrators only, for now).
pub fn authorize(
    user: &User,
    verb: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<(), RestError> {
    if user.is_admin() {
        return Ok(());
    }
    let scope = match namespace {
        Some(ns) => format!(" in the namespace {ns:?}"),
        None => " at the cluster scope".to_string(),
    };
    Err(RestError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "{resource} is forbidden: User {:?} cannot {verb} resource {resource:?}{scope}",
            user.name
        ),
    ))
}
