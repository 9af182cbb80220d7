//! Who a bearer JWT is, as kube-apiserver's service-account token validator decides it:
//! signed by this cluster's key, our issuer, the API's audience, not expired (a minute's
//! leeway either side, as go-jose), the account still there with the uid the token
//! names, and a bound pod or secret too (one marked deleted for over a minute no longer
//! counts). Each refusal says why, for the debug log; the client only sees 401.

use jiff::Timestamp;
use serde_json::Value;

use super::tokens::get;
use super::{ACCOUNTS_GROUP, API_AUDIENCE, ISSUER, USER_PREFIX};
use crate::pki::ServiceAccountKey;
use crate::store::Store;

/// Clock skew allowed on `exp`, `nbf` and a bound object's deletion.
const LEEWAY_SECONDS: i64 = 60;

/// The service account a token authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountUser {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl ServiceAccountUser {
    /// `system:serviceaccount:<namespace>:<name>`.
    pub fn user_name(&self) -> String {
        format!("{USER_PREFIX}{}:{}", self.namespace, self.name)
    }

    /// `system:serviceaccounts` and `system:serviceaccounts:<namespace>` (the caller adds
    /// `system:authenticated`).
    pub fn groups(&self) -> Vec<String> {
        vec![
            ACCOUNTS_GROUP.to_string(),
            format!("{ACCOUNTS_GROUP}:{}", self.namespace),
        ]
    }
}

/// The account `token` stands for at `now`, or why it stands for none.
pub async fn authenticate(
    store: &dyn Store,
    key: &ServiceAccountKey,
    now: Timestamp,
    token: &str,
) -> Result<ServiceAccountUser, String> {
    let claims = key
        .verify(token)
        .ok_or("not a token signed by the service-account key")?;
    if claims["iss"] != ISSUER {
        return Err(format!("issuer {} is not {ISSUER}", claims["iss"]));
    }
    let audiences = match &claims["aud"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&API_AUDIENCE) {
        return Err(format!("audiences {audiences:?} do not include the API's"));
    }
    let now = now.as_second();
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    if now > exp + LEEWAY_SECONDS {
        return Err("token has expired".into());
    }
    if claims["nbf"]
        .as_i64()
        .is_some_and(|nbf| now + LEEWAY_SECONDS < nbf)
    {
        return Err("token is not valid yet".into());
    }
    let private = &claims["kubernetes.io"];
    let namespace = private["namespace"].as_str().ok_or("no namespace claim")?;
    let account = &private["serviceaccount"];
    let (name, uid) = (
        account["name"].as_str().ok_or("no service account claim")?,
        account["uid"].as_str().unwrap_or_default(),
    );
    if claims["sub"] != format!("{USER_PREFIX}{namespace}:{name}").as_str() {
        return Err("subject does not match the service account claim".into());
    }
    let stored = get(store, "ServiceAccount", namespace, name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("service account {namespace}/{name} has been deleted"))?;
    check_alive(&stored, uid, now, "service account")?;
    for (field, kind) in [("pod", "Pod"), ("secret", "Secret")] {
        let Some(bound) = private.get(field).filter(|b| b.is_object()) else {
            continue;
        };
        let bound_name = bound["name"].as_str().unwrap_or_default();
        let object = get(store, kind, namespace, bound_name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{field} {namespace}/{bound_name} has been deleted"))?;
        check_alive(
            &object,
            bound["uid"].as_str().unwrap_or_default(),
            now,
            field,
        )?;
    }
    Ok(ServiceAccountUser {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
    })
}

/// The stored object is the one the token names (same uid) and not deleted for more
/// than the leeway.
fn check_alive(object: &Value, uid: &str, now: i64, what: &str) -> Result<(), String> {
    let meta = &object["metadata"];
    if meta["uid"].as_str().unwrap_or_default() != uid {
        return Err(format!(
            "{what} uid ({uid}) does not match the stored one ({})",
            meta["uid"]
        ));
    }
    let deleted = meta["deletionTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok());
    if deleted.is_some_and(|at| at.as_second() < now - LEEWAY_SECONDS) {
        return Err(format!(
            "{what} is being deleted: token has been invalidated"
        ));
    }
    Ok(())
}
