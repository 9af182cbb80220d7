use http::{header, HeaderMap, HeaderValue, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use serde_json::Value;
use skiff_proto::kinds::KINDS;

use super::*;

fn parsed(doc: &Document) -> Value {
    serde_json::from_slice(&doc.json().unwrap()).unwrap()
}

fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(name.clone(), HeaderValue::from_static(value));
    }
    map
}

#[test]
fn the_root_lists_every_document_with_its_hash() {
    let root = root();
    for doc in &DOCUMENTS {
        let url = root["paths"][doc.key]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert_eq!(url, format!("/openapi/v3/{}?hash={}", doc.key, doc.etag()));
        assert_eq!(doc.etag().len(), 128);
    }
}

#[test]
fn every_kind_has_its_schema_and_a_patch_that_takes_field_validation() {
    for kind in KINDS {
        let key = if kind.group.is_empty() {
            format!("api/{}", kind.version)
        } else {
            format!("apis/{}/{}", kind.group, kind.version)
        };
        let doc = parsed(find(&key).unwrap_or_else(|| panic!("no document {key}")));
        let gvk = serde_json::json!([{ "group": kind.group, "kind": kind.kind, "version": kind.version }]);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(
            schemas
                .values()
                .any(|s| s["x-kubernetes-group-version-kind"] == gvk),
            "{} has no schema",
            kind.kind
        );
        // kubectl's QueryParamVerifierV3 takes the first PATCH of the kind it meets.
        let patches: Vec<&Value> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|p| p.get("patch"))
            .filter(|op| op["x-kubernetes-group-version-kind"] == gvk[0])
            .collect();
        assert_eq!(patches.is_empty(), !kind.has_verb("patch"), "{}", kind.kind);
        for op in patches {
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
                "{}",
                op["operationId"]
            );
        }
    }
}

#[test]
fn deployment_strategy_has_kubernetes_text_and_patch_strategy() {
    let doc = parsed(find("apis/apps/v1").unwrap());
    let schemas = &doc["components"]["schemas"];
    let strategy = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    let target = strategy["allOf"][0]["$ref"].as_str().unwrap();
    let name = target.strip_prefix("#/components/schemas/").unwrap();
    assert!(schemas[name]["description"]
        .as_str()
        .unwrap()
        .contains("how to replace existing pods with new ones"));
    let core = parsed(find("api/v1").unwrap());
    let containers =
        &core["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    // A list kind and a list body decode as Kubernetes' own types would.
    let _: APIResourceList =
        serde_json::from_value(serde_json::json!({"groupVersion": "v1", "resources": []})).unwrap();
}

#[test]
fn a_current_hash_is_immutable_an_old_one_redirects() {
    let doc = find("apis/apps/v1").unwrap();
    let gzip = headers(&[(header::ACCEPT_ENCODING, "gzip")]);
    let ok = answer(doc, Some(doc.etag()), &gzip).unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()[header::CACHE_CONTROL], "public, immutable");
    assert_eq!(ok.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(ok.body().as_ref(), doc.gzip());
    assert_eq!(
        ok.headers()[header::ETAG],
        format!("\"{}\"", doc.etag()).as_str()
    );

    let old = answer(doc, Some("ABC"), &gzip).unwrap();
    assert_eq!(old.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        old.headers()[header::LOCATION],
        doc.server_relative_url().as_str()
    );

    let plain = answer(doc, None, &HeaderMap::new()).unwrap();
    assert!(plain.headers().get(header::CACHE_CONTROL).is_none());
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    let json: Value = serde_json::from_slice(plain.body()).unwrap();
    assert_eq!(json["openapi"], "3.0.0");

    let mut cached = HeaderMap::new();
    cached.insert(
        header::IF_NONE_MATCH,
        format!("\"{}\"", doc.etag()).parse().unwrap(),
    );
    assert_eq!(
        answer(doc, None, &cached).unwrap().status(),
        StatusCode::NOT_MODIFIED
    );
    let proto = headers(&[(
        header::ACCEPT,
        "application/com.github.proto-openapi.spec.v3.v1.0+protobuf",
    )]);
    assert_eq!(
        answer(doc, None, &proto).unwrap().status(),
        StatusCode::NOT_ACCEPTABLE
    );
}

#[test]
fn every_subresource_has_its_path() {
    for kind in KINDS {
        let (key, prefix) = if kind.group.is_empty() {
            (
                format!("api/{}", kind.version),
                format!("/api/{}", kind.version),
            )
        } else {
            let gv = format!("{}/{}", kind.group, kind.version);
            (format!("apis/{gv}"), format!("/apis/{gv}"))
        };
        let doc = parsed(find(&key).unwrap());
        let scope = if kind.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        for sub in kind.subresources {
            let path = format!("{prefix}{scope}/{}/{{name}}/{}", kind.plural, sub.name);
            assert!(doc["paths"].get(&path).is_some(), "{path} missing");
        }
    }
}
