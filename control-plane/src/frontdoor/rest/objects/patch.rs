//! PATCH of an object or its `status`: JSON patch, merge patch or strategic merge patch
//! (`skiff_proto::patch`), applied to the object as stored, then written like a PUT
//! (`resources::replace`) on the revision the patch was applied to. If another writer
//! got in between, the patch is applied again to the new state, unless the patch itself
//! names a resourceVersion, which then must still be current (409 otherwise), as
//! kube-apiserver does.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};
use skiff_proto::patch::{strict_errors, PatchError, PatchType};

use super::super::body;
use super::super::reply::Body;
use super::super::route::Query;
use super::super::status::RestError;
use super::super::Ctx;
use super::fields::{self, Validation};
use super::managers::{self, Options};
use super::{dry_run, Target};
use crate::core::Error;
use crate::resources::{self, objects::parse_revision, Part};

/// Attempts when other writers keep changing the object under the patch.
const ATTEMPTS: usize = 5;

/// The Status of a refused patch, as kube-apiserver's patch handler words it.
pub fn refused(e: PatchError) -> RestError {
    match e {
        PatchError::Malformed(m) => RestError::bad_request(m),
        PatchError::Unprocessable(detail) => RestError::invalid(
            PatchError::UNPROCESSABLE_MESSAGE,
            vec![json!({"message": detail})],
        ),
        PatchError::TooLarge(m) => {
            RestError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", m)
        }
        e @ (PatchError::UnsupportedMediaType(_) | PatchError::UnsupportedKind { .. }) => {
            RestError::unsupported_media_type(e.to_string())
        }
    }
}

/// Reads a PATCH request's type and body, with what Strict validation finds in it.
pub async fn read_patch(
    query: &Query,
    req: Request<Incoming>,
) -> Result<(PatchType, bytes::Bytes, Validation, Vec<String>), RestError> {
    let (parts, incoming) = req.into_parts();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let patch_type = PatchType::from_content_type(&content_type).map_err(refused)?;
    let bytes = body::read(&parts.headers, incoming).await?;
    let validation = Validation::of(query)?;
    let body_errors = strict_errors(&bytes, patch_type.is_json_patch());
    if validation == Validation::Strict && !body_errors.is_empty() {
        return Err(RestError::bad_request(format!(
            "strict decoding error: {}",
            body_errors.join(", ")
        )));
    }
    Ok((patch_type, bytes, validation, body_errors))
}

pub async fn patch(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    part: Part,
    query: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    if super::apply::is_apply(req.headers()) {
        return super::apply::apply(ctx, target, name, part, query, req).await;
    }
    let dry = dry_run(query)?;
    if query.get("force").is_some() {
        return Err(managers::invalid_options(
            Options::Patch,
            "force",
            "FieldValueForbidden",
            "Forbidden: may not be specified for non-apply patch",
        ));
    }
    let manager = managers::updater(target, query, req.headers(), Options::Patch)?;
    let (patch_type, bytes, validation, mut warnings) = read_patch(query, req).await?;
    if validation == Validation::Ignore {
        warnings.clear();
    }
    resources::refuse_read_only(target.info.kind, "patch").map_err(RestError::from)?;
    let key = target.key(name);
    let store = ctx.cp.store.as_ref();
    for _ in 0..ATTEMPTS {
        let current = resources::get(store, key.kind.as_str(), &key.namespace, name)
            .await
            .map_err(|e| target.refusal(name, e))?;
        let doc: Value = serde_json::from_slice(&current.json)
            .map_err(|e| RestError::from(Error::Internal(e.to_string())))?;
        let patched = patch_type
            .apply(&doc, &bytes, target.info.kind)
            .map_err(refused)?;
        for (field, wanted) in [("name", name), ("namespace", key.namespace.as_str())] {
            let now = patched
                .pointer(&format!("/metadata/{field}"))
                .and_then(Value::as_str);
            if now.unwrap_or_default() != wanted && !(field == "namespace" && now.is_none()) {
                return Err(RestError::bad_request(format!(
                    "metadata.{field}: Invalid value: {:?}: field is immutable",
                    now.unwrap_or_default()
                )));
            }
        }
        let pinned = patched
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|rv| *rv != current.resource_version)
            .map(str::to_string);
        let (patched, unknown) = fields::check(patched, validation, target.info.kind)?;
        super::super::authz::admit_rbac(ctx, target.info.kind, &key.namespace, &patched)?;
        let precondition = match &pinned {
            Some(rv) => parse_revision(rv).map_err(|e| RestError::bad_request(e.to_string()))?,
            None => parse_revision(&current.resource_version).map_err(RestError::from)?,
        };
        let written = resources::replace(
            store,
            ctx.clock.as_ref(),
            &ctx.ranges,
            &key,
            patched,
            precondition,
            part,
            dry,
            Some(&manager),
        )
        .await;
        let mut all = warnings.clone();
        all.extend(unknown);
        if let Some(response) = super::patched(target, name, written, pinned.is_some(), &all)? {
            return Ok(response);
        }
    }
    Err(super::kept_changing(target, name, "patched"))
}
