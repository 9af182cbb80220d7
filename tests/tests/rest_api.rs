//! The Kubernetes REST API on the wire, against a real control plane: what a client sees
//! for CRUD, list options, watch resumption and expiry, and every kind of bad input
//! (codes and `Status` bodies as kube-apiserver answers them). The real clients (kubectl,
//! the `kube` crate) have their own files.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use skiff_e2e::rest::Rest;
use skiff_e2e::TestControlPlane;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// A control plane that keeps few revisions watchable (so a test can make one expire),
/// or `None` where the e2e prerequisites are missing (a failure under CI=true).
fn control_plane() -> Option<TestControlPlane> {
    if !skiff_e2e::require_root_and_tools() {
        return None;
    }
    Some(
        TestControlPlane::start_with_args(&["--compact-keep", "2", "--compact-interval", "1s"])
            .expect("control plane"),
    )
}

fn cm(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}})
}

#[test]
fn objects_are_created_read_listed_replaced_and_deleted() {
    let Some(cp) = control_plane() else { return };
    let rest = Rest::new(&cp).unwrap();

    let created = rest.post(CMS, &cm("one", "1")).unwrap();
    assert_eq!(created.code, 201, "{}", created.text);
    let created = created.json();
    assert!(!created["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .is_empty());
    assert!(created["metadata"]["creationTimestamp"].is_string());
    let again = rest.post(CMS, &cm("one", "1")).unwrap();
    assert_eq!(again.code, 409);
    assert_eq!(again.json()["reason"], "AlreadyExists");
    assert_eq!(again.json()["message"], "configmaps \"one\" already exists");

    let generated = rest
        .post(
            CMS,
            &json!({"metadata": {"generateName": "gen-"}, "data": {}}),
        )
        .unwrap();
    assert_eq!(generated.code, 201, "{}", generated.text);
    let name = generated.json()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let dry = rest
        .send(
            "POST",
            &format!("{CMS}?dryRun=All"),
            Some((
                "application/json",
                serde_json::to_vec(&cm("dry", "x")).unwrap(),
            )),
            false,
        )
        .unwrap();
    assert_eq!(dry.code, 201, "{}", dry.text);
    assert_eq!(rest.get(&format!("{CMS}/dry")).unwrap().code, 404);

    let got = rest.get(&format!("{CMS}/one")).unwrap();
    assert_eq!(got.code, 200);
    let mut one = got.json();
    assert_eq!(one["data"]["k"], "1");

    // PUT with the resourceVersion read, then with the now stale one.
    one["data"]["k"] = json!("2");
    let replaced = rest.put(&format!("{CMS}/one"), &one).unwrap();
    assert_eq!(replaced.code, 200, "{}", replaced.text);
    assert_eq!(replaced.json()["data"]["k"], "2");
    one["data"]["k"] = json!("3");
    let stale = rest.put(&format!("{CMS}/one"), &one).unwrap();
    assert_eq!(stale.code, 409, "{}", stale.text);
    assert_eq!(stale.json()["reason"], "Conflict");
    // Without a resourceVersion the write is unconditional.
    one["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    assert_eq!(rest.put(&format!("{CMS}/one"), &one).unwrap().code, 200);

    // limit/continue pages through the list in name order.
    for i in 0..5 {
        assert_eq!(
            rest.post(CMS, &cm(&format!("page-{i}"), "p")).unwrap().code,
            201
        );
    }
    let mut names = Vec::new();
    let mut next = String::new();
    loop {
        let page = rest
            .get(&format!("{CMS}?labelSelector=&limit=2&continue={next}"))
            .unwrap()
            .json();
        assert_eq!(page["kind"], "ConfigMapList");
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(token) => next = token.to_string(),
            None => break,
        }
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // (besides the CA ConfigMap every namespace has)
    names.retain(|n| n != "kube-root-ca.crt");
    assert_eq!(names.len(), 7, "{names:?}");

    let by_name = rest
        .get(&format!("{CMS}?fieldSelector=metadata.name%3Dpage-3"))
        .unwrap()
        .json();
    assert_eq!(by_name["items"].as_array().unwrap().len(), 1);

    let deleted = rest.delete(&format!("{CMS}/one")).unwrap();
    assert_eq!(deleted.code, 200, "{}", deleted.text);
    assert_eq!(deleted.json()["status"], "Success");
    let gone = rest.get(&format!("{CMS}/one")).unwrap();
    assert_eq!(gone.code, 404);
    assert_eq!(gone.json()["message"], "configmaps \"one\" not found");

    let swept = rest
        .send(
            "DELETE",
            &format!("{CMS}?fieldSelector=metadata.name%21%3Dgen-x"),
            None,
            false,
        )
        .unwrap();
    assert_eq!(swept.code, 200, "{}", swept.text);
    // Nothing is left but the CA ConfigMap, which its controller puts back.
    let left = rest.get(CMS).unwrap().json();
    let left: Vec<&Value> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["metadata"]["name"] != "kube-root-ca.crt")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn watches_resume_from_a_resource_version_and_expire_with_410() {
    let Some(cp) = control_plane() else { return };
    let rest = Rest::new(&cp).unwrap();
    let first = rest.post(CMS, &cm("w", "0")).unwrap().json();
    let from = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut w = first.clone();
    w["data"]["k"] = json!("1");
    assert_eq!(rest.put(&format!("{CMS}/w"), &w).unwrap().code, 200);

    // Resumed from the create: exactly the one later change, nothing before it.
    let lines = rest
        .watch_lines(&format!(
            "{CMS}?watch=1&resourceVersion={from}&timeoutSeconds=1"
        ))
        .unwrap();
    let types: Vec<&str> = lines
        .iter()
        .map(|l| l["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(types, ["MODIFIED"], "{lines:?}");
    assert_eq!(lines[0]["object"]["data"]["k"], "1");

    // From nothing: the current state as ADDED; with sendInitialEvents its end is marked.
    let lines = rest
        .watch_lines(&format!("{CMS}?watch=1&timeoutSeconds=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"))
        .unwrap();
    assert_eq!(lines[0]["type"], "ADDED");
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "BOOKMARK", "{lines:?}");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let refused = rest
        .get(&format!("{CMS}?watch=1&sendInitialEvents=true"))
        .unwrap();
    assert_eq!(refused.code, 422, "{}", refused.text);

    // Many writes later and a compaction after, the old resourceVersion is gone: 410.
    for i in 0..6 {
        w["data"]["k"] = json!(format!("x{i}"));
        w["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        assert_eq!(rest.put(&format!("{CMS}/w"), &w).unwrap().code, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = rest
            .watch_lines(&format!(
                "{CMS}?watch=1&resourceVersion={from}&timeoutSeconds=1"
            ))
            .unwrap();
        if lines.first().is_some_and(|l| l["type"] == "ERROR") {
            assert_eq!(lines[0]["object"]["code"], 410, "{lines:?}");
            assert_eq!(lines[0]["object"]["reason"], "Expired");
            assert_eq!(lines.len(), 1);
            break;
        }
        assert!(Instant::now() < deadline, "never expired: {lines:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn bad_requests_get_a_status_with_kube_apiservers_code() {
    let Some(cp) = control_plane() else { return };
    let rest = Rest::new(&cp).unwrap();

    // Nobody is anonymous.
    let anonymous = rest.send("GET", CMS, None, true).unwrap();
    assert_eq!(anonymous.code, 401);
    assert_eq!(anonymous.json()["kind"], "Status");

    // A body that is not JSON; one that is not an object.
    let garbage = rest
        .send(
            "POST",
            CMS,
            Some(("application/json", b"{not json".to_vec())),
            false,
        )
        .unwrap();
    assert_eq!(garbage.code, 400, "{}", garbage.text);
    assert_eq!(garbage.json()["reason"], "BadRequest");
    let array = rest
        .send(
            "POST",
            CMS,
            Some(("application/json", b"[1]".to_vec())),
            false,
        )
        .unwrap();
    assert_eq!(array.code, 400);

    // Unknown fields: refused under Strict, dropped with a warning by default.
    let mut typo = cm("typo", "t");
    typo["metadata"]["labelz"] = json!({"a": "b"});
    let strict = rest
        .send(
            "POST",
            &format!("{CMS}?fieldValidation=Strict"),
            Some(("application/json", serde_json::to_vec(&typo).unwrap())),
            false,
        )
        .unwrap();
    assert_eq!(strict.code, 400, "{}", strict.text);
    assert!(
        strict.json()["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"metadata.labelz\""),
        "{}",
        strict.text
    );
    let warned = rest.post(CMS, &typo).unwrap();
    assert_eq!(warned.code, 201, "{}", warned.text);
    assert_eq!(
        warned.warnings(),
        ["299 - \"unknown field \\\"metadata.labelz\\\"\""]
    );
    assert!(warned.json()["metadata"].get("labelz").is_none());

    // Validation: 422 naming the field.
    let invalid = rest
        .post("/apis/apps/v1/namespaces/default/deployments", &json!({
            "metadata": {"name": "bad"},
            "spec": {"replicas": -1, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
        .unwrap();
    assert_eq!(invalid.code, 422, "{}", invalid.text);
    assert_eq!(invalid.json()["reason"], "Invalid");
    assert!(invalid.text.contains("spec.replicas"), "{}", invalid.text);

    // Unknown resources and paths.
    assert_eq!(
        rest.get("/api/v1/namespaces/default/widgets").unwrap().code,
        404
    );
    assert_eq!(rest.get("/api/v1/nodes/x/y/z").unwrap().code, 404);

    // A body over 3 MiB.
    let mut huge = cm("huge", "");
    huge["data"]["k"] = json!("x".repeat(3 * 1024 * 1024 + 1));
    let too_big = rest.post(CMS, &huge).unwrap();
    assert_eq!(too_big.code, 413, "{}", too_big.text);
    assert_eq!(too_big.json()["reason"], "RequestEntityTooLarge");
}

/// A client that opens a connection and never finishes its request is cut off by the
/// server's timeout, and everyone else is served meanwhile.
#[test]
fn a_client_that_never_finishes_its_request_is_cut_off() {
    let Some(cp) = control_plane() else { return };
    let rest = Rest::new(&cp).unwrap();
    let address = cp.url.trim_start_matches("https://").to_string();
    // Plain TCP that never even finishes a TLS handshake, and one stuck mid-headers
    // cannot be done without TLS here, so the handshake is the stalled step.
    let mut stalled = TcpStream::connect(&address).unwrap();
    stalled.write_all(b"\x16\x03\x01").unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(rest.get(CMS).unwrap().code, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "others were held up"
    );
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 64];
    let read = stalled.read(&mut buf);
    assert!(
        matches!(read, Ok(0)) || read.is_err() && started.elapsed() < Duration::from_secs(25),
        "the stalled connection was not closed: {read:?} after {:?}",
        started.elapsed()
    );
}

fn patch(rest: &Rest, path: &str, content_type: &str, body: &Value) -> skiff_e2e::rest::Reply {
    rest.send(
        "PATCH",
        path,
        Some((content_type, serde_json::to_vec(body).unwrap())),
        false,
    )
    .unwrap()
}

#[test]
fn every_patch_type_applies_and_a_bad_patch_is_refused() {
    let Some(cp) = control_plane() else { return };
    let rest = Rest::new(&cp).unwrap();
    const MERGE: &str = "application/merge-patch+json";
    const JSON: &str = "application/json-patch+json";
    const STRATEGIC: &str = "application/strategic-merge-patch+json";

    assert_eq!(rest.post(CMS, &cm("p", "1")).unwrap().code, 201);
    let merged = patch(
        &rest,
        &format!("{CMS}/p"),
        MERGE,
        &json!({"data": {"k": null, "n": "2"}}),
    );
    assert_eq!(merged.code, 200, "{}", merged.text);
    assert_eq!(merged.json()["data"], json!({"n": "2"}));
    let jp = patch(
        &rest,
        &format!("{CMS}/p"),
        JSON,
        &json!([{"op": "add", "path": "/data/m", "value": "3"}]),
    );
    assert_eq!(jp.json()["data"], json!({"n": "2", "m": "3"}));
    let failed_test = patch(
        &rest,
        &format!("{CMS}/p"),
        JSON,
        &json!([{"op": "test", "path": "/data/n", "value": "9"}]),
    );
    assert_eq!(failed_test.code, 422, "{}", failed_test.text);
    let stale = patch(
        &rest,
        &format!("{CMS}/p"),
        MERGE,
        &json!({"metadata": {"resourceVersion": "1"}, "data": {"x": "y"}}),
    );
    assert_eq!(stale.code, 409, "{}", stale.text);
    let unsupported = patch(&rest, &format!("{CMS}/p"), "application/xml", &json!({}));
    assert_eq!(unsupported.code, 415);

    // A strategic patch of one container by name (kubectl set image) keeps the others.
    let deployments = "/apis/apps/v1/namespaces/default/deployments";
    let created = rest
        .post(deployments, &json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                         {"name": "a", "image": "nginx:1.10"}, {"name": "b", "image": "busybox"}]}}}}))
        .unwrap();
    assert_eq!(created.code, 201, "{}", created.text);
    let generation = created.json()["metadata"]["generation"].as_i64().unwrap();
    let set = patch(
        &rest,
        &format!("{deployments}/web"),
        STRATEGIC,
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:1.11"}]}}}}),
    );
    assert_eq!(set.code, 200, "{}", set.text);
    let containers = &set.json()["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], "nginx:1.11");
    assert_eq!(containers[1]["image"], "busybox");
    assert_eq!(
        set.json()["metadata"]["generation"].as_i64().unwrap(),
        generation + 1
    );

    // A patch that breaks validation; one that changes status only through /status.
    let broken = patch(
        &rest,
        &format!("{deployments}/web"),
        MERGE,
        &json!({"spec": {"replicas": -3}}),
    );
    assert_eq!(broken.code, 422, "{}", broken.text);
    let ignored = patch(
        &rest,
        &format!("{deployments}/web"),
        MERGE,
        &json!({"status": {"replicas": 7}}),
    );
    assert_eq!(ignored.code, 200);
    assert_ne!(ignored.json()["status"]["replicas"], 7);

    // The scale subresource, as `kubectl scale` patches it.
    let scaled = patch(
        &rest,
        &format!("{deployments}/web/scale"),
        MERGE,
        &json!({"spec": {"replicas": 4}}),
    );
    assert_eq!(scaled.code, 200, "{}", scaled.text);
    assert_eq!(scaled.json()["kind"], "Scale");
    assert_eq!(scaled.json()["spec"]["replicas"], 4);
    assert_eq!(
        rest.get(&format!("{deployments}/web")).unwrap().json()["spec"]["replicas"],
        4
    );
}
