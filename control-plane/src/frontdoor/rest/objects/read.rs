//! get and list. A list is the store's objects in the scope, sorted by namespace and
//! name, at one revision; `limit` cuts it into pages whose `continue` token says where
//! the next one starts and at which revision, so later pages show the first page's
//! state (`pages.rs`).

use http::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::super::reply::{self, Body};
use super::super::route::Query;
use super::super::status::RestError;
use super::super::tables::Tables;
use super::super::Ctx;
use super::pages::{self, Continue};
use super::Target;
use crate::resources::{self, Scope};
use crate::store::Stored;

/// One object (`GET .../pods/web`).
pub async fn get<B>(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    req: &Request<B>,
) -> Result<Response<Body>, RestError> {
    let query = Query::parse(req.uri().query());
    let tables = Tables::for_request(target.info.kind, req, &query)?;
    let key = target.key(name);
    let object = resources::get(
        ctx.cp.store.as_ref(),
        key.kind.as_str(),
        &key.namespace,
        name,
    )
    .await
    .map_err(|e| target.refusal(name, e))?;
    if let Some(mut tables) = tables {
        let object = parse(&object.json)?;
        let table = tables.object(&object, ctx.clock.now());
        return Ok(reply::json(StatusCode::OK, &table));
    }
    Ok(reply::bytes_with(StatusCode::OK, reply::JSON, object.json))
}

/// The scope of a list or watch: the route's namespace, `labelSelector`, `fieldSelector`.
pub fn scope(target: &Target<'_>, query: &Query) -> Result<Scope, RestError> {
    let namespace = target.route.namespace.as_deref();
    Scope::new(
        target.kind.name,
        namespace.unwrap_or_default(),
        namespace.is_none(),
        query.get("labelSelector").unwrap_or_default(),
    )
    .and_then(|scope| scope.with_fields(query.get("fieldSelector").unwrap_or_default()))
    .map_err(|e| RestError::bad_request(e.to_string()))
}

/// Objects of a kind (`GET .../pods?labelSelector=app=web&limit=500`).
pub async fn list<B>(
    ctx: &Ctx,
    target: &Target<'_>,
    query: &Query,
    req: &Request<B>,
) -> Result<Response<Body>, RestError> {
    let tables = Tables::for_request(target.info.kind, req, query)?;
    let scope = scope(target, query)?;
    let limit = query.int("limit")?.filter(|n| *n > 0).map(|n| n as usize);
    let snapshot = pages::read(ctx.cp.store.as_ref(), &scope, query).await?;
    let revision = snapshot.revision;
    let rest = snapshot.rest();
    let (page, more) = match limit {
        Some(limit) if rest.len() > limit => (&rest[..limit], rest.len() - limit),
        _ => (rest, 0),
    };
    let mut metadata = json!({ "resourceVersion": revision.to_string() });
    if more > 0 {
        let last = &page[page.len() - 1];
        metadata["continue"] = json!(Continue {
            rv: revision,
            ns: last.key.namespace.clone(),
            name: last.key.name.clone()
        }
        .encode());
        metadata["remainingItemCount"] = json!(more);
    }
    if let Some(tables) = tables {
        // Of each object only what the printers read is decoded (docs/architecture.md,
        // What costs what).
        let table = tables
            .list_stored(page, metadata, ctx.clock.now())
            .map_err(RestError::from)?;
        return Ok(reply::bytes_with(StatusCode::OK, reply::JSON, table));
    }
    Ok(reply::bytes_with(
        StatusCode::OK,
        reply::JSON,
        list_body(target, &metadata, page).map_err(RestError::from)?,
    ))
}

/// A stored object's JSON, for the printers to read.
fn parse(json: &[u8]) -> Result<Value, RestError> {
    serde_json::from_slice(json).map_err(|e| {
        RestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("decoding a stored object: {e}"),
        )
    })
}

/// `{"kind":"PodList","apiVersion":"v1","metadata":{..},"items":[..]}`, with the items'
/// stored JSON copied in with their resourceVersion (no decoding or re-encoding of
/// thousands of objects).
fn list_body(
    target: &Target<'_>,
    metadata: &serde_json::Value,
    items: &[Stored],
) -> Result<Vec<u8>, crate::core::Error> {
    let size: usize = items.iter().map(|o| o.json.len() + 32).sum();
    let mut out = Vec::with_capacity(size + 256);
    out.extend_from_slice(
        format!(
            r#"{{"kind":"{}List","apiVersion":"{}","metadata":{},"items":["#,
            target.info.kind,
            target.info.api_version(),
            metadata
        )
        .as_bytes(),
    );
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        resources::write_served(&mut out, item)?;
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}
