//! get and list. A list is the store's objects in the scope, sorted by namespace and
//! name, at one revision; `limit` cuts it into pages whose `continue` token says where
//! the next one starts.
//!
//! Known gap: pages after the first are read from the current state, not from the first
//! page's revision as etcd would, so an object created or deleted between two pages may
//! be missed or seen; the list's resourceVersion stays the first page's.

use http::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::super::reply::{self, Body};
use super::super::route::Query;
use super::super::status::RestError;
use super::super::tables::Tables;
use super::super::Ctx;
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

/// Where a page starts: after this namespace and name, at the first page's revision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Continue {
    rv: i64,
    ns: String,
    name: String,
}

impl Continue {
    fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).expect("a token always serializes"))
    }

    fn decode(text: &str) -> Result<Continue, RestError> {
        hex::decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| {
                RestError::bad_request(format!(
                    "continue key is not valid: {text:?} was not returned by this server"
                ))
            })
    }
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
    let from = query
        .get("continue")
        .filter(|t| !t.is_empty())
        .map(Continue::decode)
        .transpose()?;
    let (items, revision) = resources::list_stored(ctx.cp.store.as_ref(), &scope)
        .await
        .map_err(RestError::from)?;
    let revision = from.as_ref().map_or(revision, |c| c.rv);
    let start = match &from {
        Some(c) => items.partition_point(|o| {
            (o.key.namespace.as_str(), o.key.name.as_str()) <= (c.ns.as_str(), c.name.as_str())
        }),
        None => 0,
    };
    let rest = &items[start..];
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
        // One object decoded at a time, printed and dropped (docs/architecture.md, What
        // costs what).
        let rows = page.iter().map(resources::served_value);
        let table = tables
            .list_bytes(rows, metadata, ctx.clock.now())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_foreign_ones_are_refused() {
        let token = Continue {
            rv: 7,
            ns: "default".into(),
            name: "web-3".into(),
        };
        assert_eq!(Continue::decode(&token.encode()).unwrap(), token);
        let e = Continue::decode("nonsense").unwrap_err();
        assert_eq!(e.code, 400);
    }
}
