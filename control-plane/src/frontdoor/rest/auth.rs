//! Who is calling, for REST: the verified client certificate the listener recorded
//! (`frontdoor/server.rs`), or an `Authorization: Bearer` token: the admin token or a
//! service account's JWT (`resources/service_accounts/authenticate.rs`). Nothing is anonymous:
//! a request with neither gets 401, as kube-apiserver with `--anonymous-auth=false`.
//! A certificate is read as kube-apiserver reads one: CN the user, each O a group, and
//! every authenticated caller is in `system:authenticated`. What each may do is RBAC's
//! to say (`authz.rs`); nodes have their own gRPC service and no REST rights by default.

use http::{header, Request, StatusCode};
use skiff_proto::auth::{Caller, ADMIN_GROUP};

/// The group of every authenticated caller.
pub const AUTHENTICATED: &str = "system:authenticated";

use super::status::RestError;
use crate::core::ControlPlane;
use crate::frontdoor::server::ConnectInfo;
use crate::resources::service_accounts;

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
            groups: vec![ADMIN_GROUP.into(), AUTHENTICATED.into()],
        }
    }

    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == ADMIN_GROUP)
    }
}

/// The caller of `req`, or 401.
pub async fn authenticate<B>(
    cp: &ControlPlane,
    now: jiff::Timestamp,
    req: &Request<B>,
) -> Result<User, RestError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        return match bearer(cp, now, token).await {
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
            groups: vec![skiff_proto::auth::NODES_GROUP.into(), AUTHENTICATED.into()],
        }),
        Some(Caller::ControlPlane) => Ok(User {
            name: skiff_proto::auth::CONTROL_PLANE_CN.into(),
            groups: vec![AUTHENTICATED.into()],
        }),
        Some(Caller::User { name, mut groups }) => {
            groups.retain(|g| g != AUTHENTICATED);
            groups.push(AUTHENTICATED.into());
            Ok(User { name, groups })
        }
        // A certificate without a name identifies no one.
        Some(Caller::Unknown(_) | Caller::Anonymous) | None => Err(unauthorized()),
    }
}

/// The user a bearer token stands for, if it is one this cluster issued: the admin
/// token (`<data-dir>/admin-token`, `pki/admin_token.rs`) is the administrator, a JWT
/// signed with the service-account key the account it names (while it and a bound pod
/// or secret exist).
async fn bearer(cp: &ControlPlane, now: jiff::Timestamp, token: &str) -> Option<User> {
    if cp.pki.admin_token_matches(token) {
        return Some(User::admin());
    }
    let key = cp.pki.service_account_key();
    match service_accounts::authenticate(cp.store.as_ref(), key, now, token).await {
        Ok(account) => {
            let mut groups = account.groups();
            groups.push(AUTHENTICATED.into());
            Some(User {
                name: account.user_name(),
                groups,
            })
        }
        Err(why) => {
            tracing::debug!(reason = %why, "bearer token refused");
            None
        }
    }
}

fn unauthorized() -> RestError {
    RestError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
}
