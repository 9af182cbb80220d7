//! The discovery documents as HTTP answers (JSON bodies, their Content-Types), for the
//! routes of the REST front door to send.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use serde::Serialize;

use super::{aggregated, find, groups, health, resources, version};
use crate::store::Store;

/// `/version`.
pub fn version() -> Response<Bytes> {
    json(&version::info(), "application/json")
}

/// `/api` (`core`) or `/apis`: aggregated when `accept` asks for it, legacy otherwise.
pub fn root(core: bool, accept: &str, server_address: &str) -> Response<Bytes> {
    if aggregated::wanted(accept) {
        json(&aggregated::list(core), aggregated::CONTENT_TYPE)
    } else if core {
        json(&groups::core_versions(server_address), "application/json")
    } else {
        json(&groups::group_list(), "application/json")
    }
}

/// `/apis/<group>`; `None` for a group not served.
pub fn group(name: &str) -> Option<Response<Bytes>> {
    groups::group(name).map(|g| json(&g, "application/json"))
}

/// `/api/v1`, `/apis/<group>/<version>`; `None` for a group-version not served.
pub fn resources(group: &str, version: &str) -> Option<Response<Bytes>> {
    find(group, version).map(|gv| json(&resources::resource_list(&gv), "application/json"))
}

/// `/healthz`, `/livez`, `/readyz` (`check`: `/readyz/<check>`); `None` for an unknown
/// check. `verbose` and `exclude` are the query's.
pub async fn health(
    store: &dyn Store,
    endpoint: health::Endpoint,
    check: Option<&str>,
    options: &health::Options,
) -> Option<Response<Bytes>> {
    let checks = health::run_checks(store).await;
    let (status, body) = match check {
        Some(name) => health::report_one(&checks, name)?,
        None => health::report(endpoint, &checks, options),
    };
    Some(text(status, body))
}

fn json(value: &impl Serialize, content_type: &'static str) -> Response<Bytes> {
    let body = serde_json::to_vec(value).expect("discovery documents serialize");
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::VARY, "Accept")
        .body(Bytes::from(body))
        .expect("static headers are valid")
}

fn text(status: StatusCode, body: String) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Bytes::from(body))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_type_says_which_form_was_served() {
        let accept =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        let aggregated = root(false, accept, "127.0.0.1:6443");
        assert_eq!(
            aggregated.headers()[header::CONTENT_TYPE],
            aggregated::CONTENT_TYPE
        );
        let legacy = root(true, "application/json, */*", "127.0.0.1:6443");
        assert_eq!(legacy.headers()[header::CONTENT_TYPE], "application/json");
        let body: serde_json::Value = serde_json::from_slice(legacy.body()).unwrap();
        assert_eq!(body["kind"], "APIVersions");
        assert!(resources("apps", "v2").is_none());
        assert!(resources("", "v1").is_some());
        assert!(group("batch").is_some());
    }
}
