//! Tests for `decode.rs`: the user's manifests, strictness, JSON, Lists and error text.

use super::*;

/// The manifests from the user's notes (copied from the shared folder so a clean clone
/// builds); each must decode unchanged.
const MANIFESTS: &[(&str, &str, &str)] = &[
    (
        "deployment-nginx.yaml",
        include_str!("../testdata/deployment-nginx.yaml"),
        "Deployment",
    ),
    (
        "externalname-svc.yaml",
        include_str!("../testdata/externalname-svc.yaml"),
        "Service",
    ),
    (
        "game-volume.yaml",
        include_str!("../testdata/game-volume.yaml"),
        "Pod",
    ),
    (
        "hostname-deployment.yaml",
        include_str!("../testdata/hostname-deployment.yaml"),
        "Deployment",
    ),
    (
        "hostname-svc-clusterip.yaml",
        include_str!("../testdata/hostname-svc-clusterip.yaml"),
        "Service",
    ),
    (
        "hostname-svc-nodeport.yaml",
        include_str!("../testdata/hostname-svc-nodeport.yaml"),
        "Service",
    ),
    (
        "nginx-pod.yaml",
        include_str!("../testdata/nginx-pod.yaml"),
        "Pod",
    ),
    (
        "node-selector.yaml",
        include_str!("../testdata/node-selector.yaml"),
        "Pod",
    ),
    (
        "replicaset-nginx.yaml",
        include_str!("../testdata/replicaset-nginx.yaml"),
        "ReplicaSet",
    ),
];

fn decode_err(text: &str) -> DecodeError {
    decode_documents("test.yaml", text).expect_err("must be refused")
}

#[test]
fn the_users_manifests_decode_cleanly() {
    for (name, text, kind) in MANIFESTS {
        let objects = decode_documents(name, text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(objects.len(), 1, "{name}");
        assert_eq!(objects[0].kind(), *kind, "{name}");
        assert!(!objects[0].name().is_empty(), "{name}");
    }
}

#[test]
fn multi_document_yaml_skips_empty_documents() {
    let text = format!(
        "---\n# just a comment\n---\n{}\n---\n---\n{}",
        MANIFESTS[6].1, MANIFESTS[1].1
    );
    let objects = decode_documents("both.yaml", &text).unwrap();
    let kinds: Vec<&str> = objects.iter().map(Object::kind).collect();
    assert_eq!(kinds, ["Pod", "Service"]);
}

#[test]
fn misspelled_field_names_path_and_document() {
    let text = format!(
        "{}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    image: nginx\n    imagePullPolcy: Always\n",
        MANIFESTS[1].1
    );
    let error = decode_err(&text);
    assert_eq!(error.document, 2);
    assert_eq!(error.path, "spec.containers[0].imagePullPolcy");
    assert_eq!(
        error.to_string(),
        r#"test.yaml: document 2: spec.containers[0].imagePullPolcy: unknown field "imagePullPolcy""#
    );
}

#[test]
fn unknown_top_level_field_is_refused() {
    let error =
        decode_err("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndatta:\n  a: b\n");
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        ("datta", r#"unknown field "datta""#)
    );
}

#[test]
fn deployment_template_typo_is_refused() {
    let text = MANIFESTS[0].1.replace(
        "          image: nginx:latest",
        "          imagee: nginx:latest",
    );
    let error = decode_err(&text);
    assert_eq!(error.path, "spec.template.spec.containers[0].imagee");
}

#[test]
fn json_objects_and_lists_decode() {
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}"#;
    let objects = decode_documents("pod.json", pod).unwrap();
    assert_eq!(objects[0].kind(), "Pod");

    let list = format!(
        r#"{{"apiVersion": "v1", "kind": "List", "items": [{pod},
            {{"apiVersion": "v1", "kind": "Namespace", "metadata": {{"name": "team-a"}}}}]}}"#
    );
    let objects = decode_documents("list.json", &list).unwrap();
    let names: Vec<&str> = objects.iter().map(Object::name).collect();
    assert_eq!(names, ["p", "team-a"]);
}

#[test]
fn list_item_errors_name_the_item() {
    let list = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "lables": {}}}]}"#;
    let error = decode_documents("list.json", list).unwrap_err();
    assert_eq!(error.path, "items[1].metadata.lables");
    assert_eq!(error.document, 1);
}

#[test]
fn yaml_lists_decode_too() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n";
    assert_eq!(
        decode_documents("l.yaml", text).unwrap()[0].kind(),
        "Namespace"
    );
}

#[test]
fn unsupported_kind_lists_the_supported_ones() {
    let error =
        decode_err("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n");
    assert_eq!(error.path, "kind");
    assert!(
        error.message.starts_with(r#"unsupported kind "Ingress""#),
        "{}",
        error.message
    );
    for kind in [
        "v1/Pod",
        "apps/v1/Deployment",
        "v1/Service",
        "batch/v1/CronJob",
        "apps/v1/StatefulSet",
    ] {
        assert!(
            error.message.contains(kind),
            "{kind} missing from {}",
            error.message
        );
    }
}

#[test]
fn known_kind_in_the_wrong_version_is_refused() {
    let error =
        decode_err("apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: d}\n");
    assert_eq!(error.path, "apiVersion");
    assert!(error.message.contains("apps/v1"), "{}", error.message);
}

#[test]
fn missing_api_version_or_kind_is_refused() {
    let error = decode_err("kind: Pod\nmetadata: {name: p}\n");
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        ("apiVersion", "apiVersion not set")
    );
    let error = decode_err("apiVersion: v1\nmetadata: {name: p}\n");
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        ("kind", "kind not set")
    );
}

#[test]
fn type_errors_carry_the_path() {
    let text = MANIFESTS[0].1.replace("replicas: 3", "replicas: three");
    let error = decode_err(&text);
    assert_eq!(error.path, "spec.replicas");
    assert!(error.message.contains("invalid type"), "{}", error.message);
}

#[test]
fn syntax_errors_name_the_document() {
    let error =
        decode_err("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [unclosed\n");
    assert_eq!(error.document, 2);
    assert_eq!(error.path, "");
    assert!(
        error.to_string().starts_with("test.yaml: document 2: "),
        "{error}"
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let error =
        decode_err("apiVersion: v1\nkind: Namespace\nkind: Namespace\nmetadata: {name: a}\n");
    assert!(error.message.contains("duplicate"), "{}", error.message);
}

#[test]
fn yaml_flow_mapping_is_not_mistaken_for_json() {
    let objects = decode_documents(
        "flow.yaml",
        "{apiVersion: v1, kind: Namespace, metadata: {name: a}}",
    )
    .unwrap();
    assert_eq!(objects[0].name(), "a");
    let error = decode_documents("bad.json", r#"{"apiVersion": "v1", "kind": }"#).unwrap_err();
    assert!(error.message.contains("line 1"), "{}", error.message);
}

#[test]
fn secrets_quantities_and_int_or_string_decode() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\ndata:\n  password: cGFzcw==\nstringData:\n  user: admin\n---\n\
        apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: web}, annotations: {a.b/c: d}}\nspec:\n  containers:\n  - name: c\n    image: i\n    \
        resources:\n      limits: {cpu: 1, memory: 128Mi}\n      requests: {cpu: 500m, memory: 0.5Gi}\n    livenessProbe:\n      httpGet: {port: 8080, path: /healthz}\n";
    let objects = decode_documents("mix.yaml", text).unwrap();
    assert_eq!(objects.len(), 2);
}

#[test]
fn octal_file_modes_read_as_kubectl_reads_them() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n  volumes:\n  - name: s\n    secret:\n      secretName: s\n      defaultMode: 0400\n      items:\n      - key: k\n        path: k\n        mode: 0o644\n";
    let objects = decode_documents("modes.yaml", text).unwrap_or_else(|e| panic!("{e}"));
    let json = objects[0].to_json_value();
    let secret = &json["spec"]["volumes"][0]["secret"];
    assert_eq!(secret["defaultMode"], 256);
    assert_eq!(secret["items"][0]["mode"], 420);
    // Not an octal literal: left as it is, and refused as a string would be.
    let err = decode_err(&text.replace("0400", "0800"));
    assert!(err.to_string().contains("defaultMode"), "{err}");
}

#[test]
fn unknown_fields_are_pruned_and_named_for_lenient_validation() {
    let value: Value = serde_json::from_str(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","bogus":1},
            "spec":{"containers":[{"name":"c","image":"i","imagePullPolcy":"Always"}],"extra":{}}}"#,
    )
    .unwrap();
    let (pruned, unknown) = crate::model::prune_unknown_fields(&value).unwrap();
    let mut sorted = unknown.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "metadata.bogus",
            "spec.containers[0].imagePullPolcy",
            "spec.extra"
        ]
    );
    assert!(pruned["spec"]["containers"][0]
        .get("imagePullPolcy")
        .is_none());
    assert_eq!(pruned["spec"]["containers"][0]["image"], "i");
    let bad: Value =
        serde_json::from_str(r#"{"apiVersion":"v1","kind":"Pod","spec":{"containers":"x"}}"#)
            .unwrap();
    assert!(crate::model::prune_unknown_fields(&bad).is_err());
}
