//! The verbs on a kind's objects (`/api/v1/namespaces/NS/pods[/NAME]`), each a thin
//! layer over `crate::resources`: read the request, call the verb, answer in JSON.
//!
//! | verb | file |
//! |------|------|
//! | get, list (labelSelector, fieldSelector, limit/continue) | `read.rs` |
//! | which state a list reads: consistent pages, resourceVersion(Match) | `pages.rs` |
//! | watch (chunked JSON events, bookmarks, timeouts, 410) | `watch.rs` |
//! | create (POST), update (PUT), the `status` subresource | `write.rs` |
//! | patch: JSON, merge and strategic merge patch | `patch.rs` |
//! | server-side apply (`application/apply-patch+yaml`) | `apply.rs` |
//! | who a write is recorded as in `managedFields` | `managers.rs` |
//! | fieldValidation: Strict, Warn, Ignore | `fields.rs` |
//! | delete, deletecollection | `delete.rs` |

mod apply;
mod delete;
mod fields;
mod managers;
mod pages;
pub mod patch;
mod read;
mod watch;
mod write;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use skiff_proto::kinds::KindInfo;

use super::reply::Body;
use super::route::{Query, Route};
use super::status::RestError;
use super::Ctx;
use crate::core::Kind;
use crate::resources::Part;
use crate::store::Key;

/// A request for objects of one kind, resolved.
pub struct Target<'a> {
    pub route: &'a Route,
    pub info: &'static KindInfo,
    pub kind: Kind,
}

impl Target<'_> {
    /// The store key of `name` under this route.
    pub fn key(&self, name: &str) -> Key {
        self.kind
            .key(self.route.namespace.as_deref().unwrap_or_default(), name)
    }

    /// `pods "web" not found`, as kube-apiserver says it.
    pub fn not_found(&self, name: &str) -> RestError {
        RestError::not_found(format!(
            "{} {name:?} not found",
            self.route.qualified_resource()
        ))
        .about(self.info.group, self.info.plural, name)
    }

    /// Rewrites a verb's NotFound about the object itself into kube-apiserver's words.
    pub fn refusal(&self, name: &str, e: crate::core::Error) -> RestError {
        let qualified = self.route.qualified_resource();
        let about = |e: RestError| e.about(self.info.group, self.info.plural, name);
        match e {
            crate::core::Error::NotFound(_) => self.not_found(name),
            crate::core::Error::AlreadyExists(_) => about(RestError::new(
                http::StatusCode::CONFLICT,
                "AlreadyExists",
                format!("{qualified} {name:?} already exists"),
            )),
            // A failed precondition (a PUT's uid) is already in kube-apiserver's words.
            crate::core::Error::Conflict(m) if m.contains("Precondition failed") => {
                about(RestError::new(http::StatusCode::CONFLICT, "Conflict", m))
            }
            crate::core::Error::Conflict(_) => about(RestError::new(
                http::StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {qualified} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
                ),
            )),
            // Namespace lifecycle admission's 403 names the cause, as kube-apiserver's.
            crate::core::Error::PermissionDenied(m) if m.contains("because it is being terminated") => {
                let namespace = self.route.namespace.clone().unwrap_or_default();
                let mut e = about(RestError::new(http::StatusCode::FORBIDDEN, "Forbidden", m));
                if let Some(details) = e.details.as_mut() {
                    details["causes"] = serde_json::json!([{
                        "reason": "NamespaceTerminating",
                        "message": format!("namespace {namespace} is being terminated"),
                        "field": "metadata.namespace",
                    }]);
                }
                e
            }
            e => about(RestError::from(e)),
        }
    }
}

/// Answers a request on the objects themselves (no subresource, or `status`).
pub async fn handle(
    ctx: &Ctx,
    target: &Target<'_>,
    req: Request<Incoming>,
) -> Result<Response<Body>, RestError> {
    let query = Query::parse(req.uri().query());
    let part = match target.route.subresource.as_deref() {
        None => Part::Main,
        Some("status") => Part::Status,
        Some(other) => {
            return Err(RestError::not_found(format!(
                "the server could not find the requested resource ({}/{other})",
                target.info.plural
            )))
        }
    };
    let name = target.route.name.clone();
    let method = req.method().clone();
    match (method, name, part) {
        (Method::GET, Some(name), _) => read::get(ctx, target, &name, &req).await,
        (Method::GET, None, Part::Main) if target.route.watch_path || query.flag("watch")? => {
            watch::watch(ctx, target, &query, &req).await
        }
        (Method::GET, None, Part::Main) => read::list(ctx, target, &query, &req).await,
        (Method::POST, None, Part::Main) => write::create(ctx, target, &query, req).await,
        (Method::PUT, Some(name), part) => {
            write::update(ctx, target, &name, part, &query, req).await
        }
        (Method::PATCH, Some(name), part) => {
            patch::patch(ctx, target, name.as_str(), part, &query, req).await
        }
        (Method::DELETE, Some(name), Part::Main) => {
            delete::delete(ctx, target, &name, &query, req).await
        }
        (Method::DELETE, None, Part::Main) => {
            delete::delete_collection(ctx, target, &query, req).await
        }
        (method, _, _) => Err(RestError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method} {})",
            req.uri().path()
        ))),
    }
}

/// The answer to a patch's (or apply's) write: the object with `warnings`, `None` to
/// try again when another writer got in first and the request pinned no
/// resourceVersion, or the refusal.
pub fn patched(
    target: &Target<'_>,
    name: &str,
    written: Result<crate::resources::Object, crate::core::Error>,
    pinned: bool,
    warnings: &[String],
) -> Result<Option<Response<Body>>, RestError> {
    match written {
        Ok(written) => {
            let mut response =
                super::reply::bytes_with(http::StatusCode::OK, super::reply::JSON, written.json);
            fields::warn(&mut response, warnings);
            Ok(Some(response))
        }
        Err(crate::core::Error::Conflict(_)) if !pinned => Ok(None),
        Err(e) => Err(target.refusal(name, e)),
    }
}

/// The refusal once the attempts at a patch ran out.
pub fn kept_changing(target: &Target<'_>, name: &str, verb: &str) -> RestError {
    let key = target.key(name);
    target.refusal(
        name,
        crate::core::Error::Conflict(format!("{key} kept changing while it was being {verb}")),
    )
}

/// `dryRun=All` (the only value Kubernetes knows).
pub fn dry_run(query: &Query) -> Result<bool, RestError> {
    let values: Vec<&str> = query.all("dryRun").collect();
    match values.as_slice() {
        [] => Ok(false),
        ["All"] => Ok(true),
        other => Err(RestError::bad_request(format!(
            "dryRun: Unsupported value: {:?}: supported values: \"All\"",
            other.join(",")
        ))),
    }
}
