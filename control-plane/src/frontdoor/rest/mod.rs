//! The Kubernetes REST API (docs/architecture.md, The REST API): what kubectl, helm and
//! client libraries speak, on the same TLS port as gRPC (`frontdoor/server.rs`).
//!
//! | what | file |
//! |------|------|
//! | the service: authenticate, route, answer errors as `Status` | `mod.rs` |
//! | paths and queries | `route.rs` |
//! | the dispatch table (resources, subresources, non-resource paths) | `routes.rs` |
//! | who is calling | `auth.rs` |
//! | may they: request attributes, RBAC's 403, escalation checks | `authz.rs` |
//! | SelfSubjectAccessReview, SelfSubjectRulesReview | `reviews.rs` |
//! | request bodies: size and time limits, media types | `body.rs` |
//! | the one error mapping (`Status` objects) | `status.rs` |
//! | responses: JSON, text, chunked streams | `reply.rs` |
//! | protobuf replies and watch frames for clients that ask for them | `protobuf.rs` |
//! | `meta.k8s.io/v1` Tables for `kubectl get` | `tables.rs` |
//! | get, list, watch, create, update, patch, delete of every kind | `objects/` |
//! | the `scale` subresource (autoscaling/v1 Scale) | `scale.rs` |
//! | a pod's subresources (binding, eviction, portforward, ...) | `pods/` |
//! | SPDY/3.1, for kubectl's streaming connections | `spdy/` |
//! | `/version`, discovery, health checks | `discovery/` |
//! | `/openapi/v3` and its documents | `openapi/` |

mod auth;
mod authz;
mod body;
pub mod discovery;
mod objects;
pub mod openapi;
mod pods;
mod protobuf;
mod reply;
mod reviews;
mod route;
mod routes;
mod scale;
mod spdy;
mod status;
mod tables;
mod token_request;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use tracing::{debug, info_span, warn, Instrument};

use crate::core::{Clock, ControlPlane, Ranges, SystemClock};
use crate::rbac::Authorizer;

pub use auth::User;
pub use reply::Body;
pub use route::{Query, Route};
pub use status::RestError;

/// How often a watch that allows bookmarks gets one (kube-apiserver: about a minute).
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// The REST front door over the control plane.
pub struct Rest {
    cp: Arc<ControlPlane>,
    authorizer: Arc<Authorizer>,
    clock: Arc<dyn Clock>,
    ranges: Ranges,
    bookmark_interval: Duration,
}

/// What a handler works with: the control plane and the authenticated caller.
pub struct Ctx {
    pub cp: Arc<ControlPlane>,
    pub clock: Arc<dyn Clock>,
    pub ranges: Ranges,
    pub user: User,
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
    pub authorizer: Arc<Authorizer>,
}

impl Rest {
    pub fn new(cp: Arc<ControlPlane>, authorizer: Arc<Authorizer>) -> Rest {
        let ranges = cp.config.service_ranges();
        Rest {
            cp,
            authorizer,
            clock: Arc::new(SystemClock),
            ranges,
            bookmark_interval: BOOKMARK_INTERVAL,
        }
    }

    /// The same front door with watch BOOKMARKs every `every` (tests: seconds, not a minute).
    pub fn with_bookmark_interval(mut self, every: Duration) -> Rest {
        self.bookmark_interval = every;
        self
    }

    /// Answers one request; every refusal is a `Status`.
    pub async fn serve(&self, req: Request<Incoming>) -> Response<Body> {
        let span = info_span!("rest", method = %req.method(), path = %req.uri().path());
        let started = Instant::now();
        async move {
            let user = match auth::authenticate(&self.cp, self.clock.now(), &req).await {
                Ok(user) => user,
                Err(e) => return reply::error(&e),
            };
            let ctx = Ctx {
                cp: self.cp.clone(),
                clock: self.clock.clone(),
                ranges: self.ranges.clone(),
                user,
                bookmark_interval: self.bookmark_interval,
                authorizer: self.authorizer.clone(),
            };
            let response = match routes::dispatch(&ctx, req).await {
                Ok(response) => response,
                Err(e) => {
                    if e.code.is_server_error() {
                        warn!(code = e.code.as_u16(), error = %e.message, "request failed");
                    } else {
                        debug!(code = e.code.as_u16(), error = %e.message, "request refused");
                    }
                    reply::error(&e)
                }
            };
            debug!(
                code = response.status().as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "answered"
            );
            response
        }
        .instrument(span)
        .await
    }
}
