//! Server-side apply: `PATCH` with `application/apply-patch+yaml` (YAML or JSON), as
//! kube-apiserver serves it. The configuration is merged into the stored object by
//! `skiff_proto::apply` (which also keeps `managedFields`, removes what the applier
//! stopped setting and finds conflicts), then written like any patch
//! (`resources::replace`, on the revision it was merged with; again on a conflict
//! unless the configuration names a resourceVersion). An absent object is created
//! (201). `fieldManager` is required, `force=true` takes conflicting fields over,
//! `dryRun` and `fieldValidation` work as for other writes.

use http::{HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;
use skiff_proto::apply::{self as ssa, ApplyError, Manager, Operation};

use super::super::body;
use super::super::reply::{self, Body};
use super::super::route::Query;
use super::super::status::RestError;
use super::super::Ctx;
use super::fields::{self, Validation};
use super::managers::{self, Options};
use super::{dry_run, write, Target};
use crate::core::Error;
use crate::resources::{self, objects::parse_revision, Part};

/// Attempts when other writers keep changing the object under the apply.
const ATTEMPTS: usize = 5;

/// Whether a PATCH is a server-side apply.
pub fn is_apply(headers: &HeaderMap) -> bool {
    body::content_type(headers).starts_with("application/apply-patch")
}

/// The Status of a refused apply: conflicts as kube-apiserver's `NewApplyConflict`.
fn refused(target: &Target<'_>, name: &str, e: ApplyError) -> RestError {
    match e {
        ApplyError::Conflicts(conflicts) => {
            let mut err = RestError::new(StatusCode::CONFLICT, "Conflict", conflicts.message());
            err.details = Some(serde_json::json!({ "causes": conflicts.causes() }));
            err.about(target.info.group, target.info.plural, name)
        }
        ApplyError::Malformed(m) => RestError::bad_request(m),
        ApplyError::Invalid(m) => RestError::invalid(
            format!("{} {name:?} is invalid: {m}", target.info.kind),
            vec![serde_json::json!({ "message": m })],
        )
        .about(target.info.group, target.info.plural, name),
    }
}

/// Reads the applied configuration: an object of the target's kind named `name`.
async fn configuration(
    target: &Target<'_>,
    name: &str,
    req: Request<Incoming>,
) -> Result<Value, RestError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(&parts.headers, incoming).await?;
    let mut config: Value = serde_yaml::from_slice(&bytes)
        .map_err(|e| RestError::bad_request(format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(RestError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    }
    write::fill_type(target, &mut config)?;
    let meta = resources::metadata_mut(&mut config);
    match meta.get("name").and_then(Value::as_str) {
        None | Some("") => {
            meta.insert("name".into(), Value::from(name));
        }
        Some(n) if n == name => {}
        Some(other) => {
            return Err(RestError::bad_request(format!(
                "the name of the object ({other}) does not match the name on the URL ({name})"
            )))
        }
    }
    write::check_namespace(target, &config)?;
    Ok(config)
}

pub async fn apply(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    part: Part,
    query: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let dry = dry_run(query)?;
    let force = query.flag("force")?;
    let validation = Validation::of(query)?;
    let manager_name = managers::field_manager(query, Options::Patch)?.to_string();
    if manager_name.is_empty() {
        return Err(managers::invalid_options(
            Options::Patch,
            "fieldManager",
            "FieldValueRequired",
            "Required value: is required for apply patch",
        ));
    }
    resources::refuse_read_only(target.info.kind, "patch").map_err(RestError::from)?;
    let manager = Manager {
        name: manager_name,
        operation: Operation::Apply,
        api_version: target.info.api_version(),
        subresource: target.route.subresource.clone().unwrap_or_default(),
    };
    let config = configuration(target, name, req).await?;
    let pinned = config
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty())
        .map(|rv| parse_revision(rv).map_err(|e| RestError::bad_request(e.to_string())))
        .transpose()?
        .flatten();
    let key = target.key(name);
    let store = ctx.cp.store.as_ref();
    let kind = target.info.kind;
    for _ in 0..ATTEMPTS {
        let now = ctx.clock.now_seconds().to_string();
        let current = match resources::get(store, key.kind.as_str(), &key.namespace, name).await {
            Ok(current) => Some(current),
            Err(Error::NotFound(_)) if part == Part::Main && pinned.is_none() => None,
            Err(e) => return Err(target.refusal(name, e)),
        };
        let live = current
            .as_ref()
            .map(|c| {
                let mut live: Value = serde_json::from_slice(&c.json)
                    .map_err(|e| RestError::from(Error::Internal(e.to_string())))?;
                resources::metadata_mut(&mut live).remove("resourceVersion");
                Ok::<_, RestError>(live)
            })
            .transpose()?;
        let mut config = config.clone();
        resources::metadata_mut(&mut config).remove("resourceVersion");
        let merged = ssa::apply(kind, live.as_ref(), &config, &manager, force, &now)
            .map_err(|e| refused(target, name, e))?;
        let (mut merged, unknown) = fields::check(merged, validation, kind)?;
        if !unknown.is_empty() {
            // Fields the schema does not know were dropped; nobody owns them.
            ssa::forget_missing(kind, &mut merged).map_err(|e| refused(target, name, e))?;
        }
        let written = match &current {
            None => {
                let created = resources::create(
                    store,
                    ctx.clock.as_ref(),
                    &ctx.ranges,
                    merged,
                    target.route.namespace.as_deref(),
                    dry,
                    None,
                )
                .await;
                match created {
                    Ok(created) => {
                        let mut response =
                            reply::bytes_with(StatusCode::CREATED, reply::JSON, created.json);
                        fields::warn(&mut response, &unknown);
                        return Ok(response);
                    }
                    // Someone created it meanwhile: merge into theirs.
                    Err(Error::AlreadyExists(_)) => continue,
                    Err(e) => Err(e),
                }
            }
            Some(current) => {
                let precondition = match pinned {
                    Some(rv) => Some(rv),
                    None => parse_revision(&current.resource_version).map_err(RestError::from)?,
                };
                resources::replace(
                    store,
                    ctx.clock.as_ref(),
                    &ctx.ranges,
                    &key,
                    merged,
                    precondition,
                    part,
                    dry,
                    None,
                )
                .await
            }
        };
        if let Some(response) = super::patched(target, name, written, pinned.is_some(), &unknown)? {
            return Ok(response);
        }
    }
    Err(super::kept_changing(target, name, "applied"))
}
