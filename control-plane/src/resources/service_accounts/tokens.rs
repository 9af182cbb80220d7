//! Bound service-account tokens, as kube-apiserver's TokenRequest storage makes them: a
//! JWT for one account, for some audiences, for a while, optionally bound to a Pod or a
//! Secret (it stops authenticating once that object is gone; `authenticate.rs`). The
//! kubelet's tokens (`Node.RequestServiceAccountToken`) are bound to the pod and carry
//! its node, as kube's.

use jiff::Timestamp;
use serde_json::{json, Value};

use super::{API_AUDIENCE, ISSUER, MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS, USER_PREFIX};
use crate::core::Error;
use crate::pki::ServiceAccountKey;
use crate::resources::objects::parse;
use crate::store::{Key, Store};

/// What a token is asked for (a TokenRequest's `spec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSpec {
    /// Empty: the API's own audience.
    pub audiences: Vec<String>,
    /// At least [`MIN_EXPIRATION_SECONDS`]; more than [`MAX_EXPIRATION_SECONDS`] is cut.
    pub expiration_seconds: i64,
    pub bound: Option<BoundObject>,
}

/// `spec.boundObjectRef`: the object the token lives and dies with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundObject {
    /// `Pod` or `Secret`.
    pub kind: String,
    pub name: String,
    /// When set, the object must still have this uid.
    pub uid: Option<String>,
}

/// A token handed out, with the spec as defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    pub expires: Timestamp,
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    /// The bound object's uid as found.
    pub bound_uid: Option<String>,
}

/// A token for the service account `namespace`/`name`, issued at `now`.
pub async fn issue(
    store: &dyn Store,
    key: &ServiceAccountKey,
    now: Timestamp,
    namespace: &str,
    name: &str,
    spec: TokenSpec,
) -> Result<Issued, Error> {
    if spec.expiration_seconds < MIN_EXPIRATION_SECONDS {
        return Err(Error::Invalid(format!(
            "spec.expirationSeconds: Invalid value: {}: may not specify a duration less than 10 minutes",
            spec.expiration_seconds
        )));
    }
    let seconds = spec.expiration_seconds.min(MAX_EXPIRATION_SECONDS);
    let account = get(store, "ServiceAccount", namespace, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("serviceaccounts {name:?} not found")))?;
    let mut private = json!({
        "namespace": namespace,
        "serviceaccount": {"name": name, "uid": account["metadata"]["uid"]},
    });
    let mut bound_uid = None;
    if let Some(bound) = &spec.bound {
        let object = bound_object(store, namespace, name, bound).await?;
        let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
        if bound.uid.as_deref().is_some_and(|want| want != uid) {
            return Err(Error::Conflict(format!(
                "Operation cannot be fulfilled on {} {:?}: the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
                bound.kind,
                bound.name,
                bound.uid.as_deref().unwrap_or_default()
            )));
        }
        let field = bound.kind.to_lowercase();
        private[&field] = json!({"name": bound.name, "uid": uid});
        if bound.kind == "Pod" {
            if let Some(node) = object["spec"]["nodeName"]
                .as_str()
                .filter(|n| !n.is_empty())
            {
                if let Some(node) = get(store, "Node", "", node).await? {
                    private["node"] =
                        json!({"name": node["metadata"]["name"], "uid": node["metadata"]["uid"]});
                }
            }
        }
        bound_uid = Some(uid.to_string());
    }
    let audiences = if spec.audiences.is_empty() {
        vec![API_AUDIENCE.to_string()]
    } else {
        spec.audiences
    };
    let issued_at = now.as_second();
    let expires = issued_at + seconds;
    let claims = json!({
        "aud": audiences,
        "exp": expires,
        "iat": issued_at,
        "iss": ISSUER,
        "jti": crate::core::ids::new_uid(),
        "kubernetes.io": private,
        "nbf": issued_at,
        "sub": format!("{USER_PREFIX}{namespace}:{name}"),
    });
    Ok(Issued {
        token: key.sign(&claims),
        expires: Timestamp::from_second(expires)
            .map_err(|e| Error::Invalid(format!("spec.expirationSeconds: {e}")))?,
        audiences,
        expiration_seconds: seconds,
        bound_uid,
    })
}

/// The Pod or Secret a token is bound to, as kube's TokenRequest checks it.
async fn bound_object(
    store: &dyn Store,
    namespace: &str,
    account: &str,
    bound: &BoundObject,
) -> Result<Value, Error> {
    let (plural, kind) = match bound.kind.as_str() {
        "Pod" => ("pods", "Pod"),
        "Secret" => ("secrets", "Secret"),
        other => {
            return Err(Error::Invalid(format!(
                "cannot bind token to object of type /v1, Kind={other}"
            )))
        }
    };
    let object = get(store, kind, namespace, &bound.name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("{plural} {:?} not found", bound.name)))?;
    if kind == "Pod" {
        let runs_as = object["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or(super::DEFAULT_ACCOUNT);
        if runs_as != account {
            return Err(Error::Invalid(format!(
                "cannot bind token for serviceaccount {account:?} to pod running with different serviceaccount name."
            )));
        }
    }
    Ok(object)
}

/// The stored object, parsed, if there is one.
pub(super) async fn get(
    store: &dyn Store,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, Error> {
    match store.get(&Key::new(kind, namespace, name)).await? {
        Some(stored) => Ok(Some(parse(&stored)?)),
        None => Ok(None),
    }
}
