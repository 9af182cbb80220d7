//! `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`: an authentication.k8s.io/v1
//! TokenRequest, answered 201 with `status.token` and `status.expirationTimestamp` and
//! never stored, as kube-apiserver's TokenRequest storage (`kubectl create token`). The
//! token itself is `resources/service_accounts/tokens.rs`'s.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use super::body;
use super::reply::{self, Body};
use super::status::RestError;
use super::Ctx;
use crate::resources::service_accounts::{self, BoundObject, TokenSpec};

const API_VERSION: &str = "authentication.k8s.io/v1";

/// Issues a token for the service account `name` in the route's namespace.
pub async fn create(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let mut value = body::read_kind(req, API_VERSION, "TokenRequest").await?;
    // The status is the answer; clients send an empty one (`expirationTimestamp: null`).
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
    }
    let mut request: TokenRequest = serde_json::from_value(value)
        .map_err(|e| RestError::bad_request(format!("decoding the TokenRequest: {e}")))?;
    let spec = TokenSpec {
        audiences: request.spec.audiences.clone(),
        expiration_seconds: request
            .spec
            .expiration_seconds
            .unwrap_or(service_accounts::DEFAULT_EXPIRATION_SECONDS),
        bound: request.spec.bound_object_ref.as_ref().map(bound),
    };
    let issued = service_accounts::issue(
        ctx.cp.store.as_ref(),
        ctx.cp.pki.service_account_key(),
        ctx.clock.now(),
        namespace,
        name,
        spec,
    )
    .await?;
    request.metadata.name = Some(name.to_string());
    request.metadata.namespace = Some(namespace.to_string());
    request.spec.audiences = issued.audiences;
    request.spec.expiration_seconds = Some(issued.expiration_seconds);
    if let (Some(reference), Some(uid)) = (&mut request.spec.bound_object_ref, issued.bound_uid) {
        reference.uid = Some(uid);
    }
    request.status = Some(k8s_openapi::api::authentication::v1::TokenRequestStatus {
        token: issued.token,
        expiration_timestamp: Time(issued.expires),
    });
    let mut answer =
        serde_json::to_value(&request).map_err(|e| RestError::bad_request(e.to_string()))?;
    answer["metadata"]["creationTimestamp"] = Value::Null;
    Ok(reply::json(StatusCode::CREATED, &answer))
}

fn bound(reference: &BoundObjectReference) -> BoundObject {
    BoundObject {
        kind: reference.kind.clone().unwrap_or_default(),
        name: reference.name.clone().unwrap_or_default(),
        uid: reference.uid.clone().filter(|u| !u.is_empty()),
    }
}
