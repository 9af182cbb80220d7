//! The HTTP side: refuse what cannot be served with a `Status` before anything is
//! upgraded (a bad upgrade, a pod that is not there or not scheduled, an unreachable
//! node), then answer 101 and serve the upgraded connection in its own task.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tracing::{debug, Instrument};

use super::super::super::objects::Target;
use super::super::super::reply::Body;
use super::super::super::route::Query;
use super::super::super::status::RestError;
use super::super::super::Ctx;
use super::{negotiate, serve, Refused};
use crate::frontdoor::relay::PodPorts;

/// `GET` or `POST .../pods/NAME/portforward` with an upgrade.
pub async fn handle(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let query = Query::parse(req.uri().query());
    let ports: Vec<&str> = query.all("ports").collect();
    let accepted = negotiate(req.headers(), &ports).map_err(refusal)?;
    let key = target.key(name);
    let pod = PodPorts::open(&ctx.cp, &key.namespace, name).await?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let wire = accepted.wire;
    debug!(pod = %name, wire = ?wire, "port-forward upgrading");
    tokio::spawn(
        async move {
            match on_upgrade.await {
                Ok(upgraded) => serve(TokioIo::new(upgraded), wire, Arc::new(pod)).await,
                Err(error) => debug!(%error, "port-forward upgrade failed"),
            }
        }
        .in_current_span(),
    );
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = accepted.headers;
    Ok(response)
}

fn refusal(refused: Refused) -> RestError {
    let reason = match refused.code {
        StatusCode::FORBIDDEN => "Forbidden",
        _ => "BadRequest",
    };
    RestError::new(refused.code, reason, refused.message)
}
