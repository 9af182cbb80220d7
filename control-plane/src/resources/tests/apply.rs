use serde_json::json;
use tonic::Code;

use super::*;
use crate::store::Key;

#[tokio::test]
async fn create_then_unchanged_then_configured() {
    let store = store().await;
    let store = store.as_ref();
    assert_eq!(apply_ok(store, NGINX_POD).await, [Action::Created]);
    let created = get(store, "Pod", "", "my-nginx-pod").await.unwrap();
    let value = json(&created);
    assert_eq!(value["metadata"]["namespace"], "default");
    assert_eq!(value["metadata"]["generation"], 1);
    assert_eq!(
        value["metadata"]["resourceVersion"],
        created.resource_version
    );
    assert_eq!(value["metadata"]["uid"], created.uid.as_str());
    assert!(value["metadata"]["creationTimestamp"].is_string());
    assert_eq!(value["spec"]["restartPolicy"], "Always", "defaulted");
    assert_eq!(value["status"]["phase"], "Pending");

    let revision = store.current_revision().await.unwrap();
    assert_eq!(apply_ok(store, NGINX_POD).await, [Action::Unchanged]);
    assert_eq!(
        store.current_revision().await.unwrap(),
        revision,
        "nothing written"
    );

    let changed = NGINX_POD.replace("nginx:latest", "nginx:1.25");
    assert_eq!(apply_ok(store, &changed).await, [Action::Configured]);
    let configured = get(store, "Pod", "default", "my-nginx-pod").await.unwrap();
    let value = json(&configured);
    assert_eq!(value["spec"]["containers"][0]["image"], "nginx:1.25");
    assert_eq!(value["metadata"]["generation"], 2);
    assert_eq!(configured.uid, created.uid, "the uid survives updates");
    assert_eq!(value["status"]["phase"], "Pending", "status is kept");
    assert_eq!(apply_ok(store, &changed).await, [Action::Unchanged]);
}

#[tokio::test]
async fn fields_set_by_others_survive_a_reapply() {
    let store = store().await;
    let store = store.as_ref();
    apply_ok(store, NGINX_POD).await;
    // The scheduler binds the pod; `skiff label` adds a label.
    let key = Key::new("Pod", "default", "my-nginx-pod");
    let stored = store.get(&key).await.unwrap().unwrap();
    let mut value: Value = serde_json::from_slice(&stored.json).unwrap();
    value["spec"]["nodeName"] = json!("n1");
    let bytes = serde_json::to_vec(&value).unwrap();
    store
        .update(key, bytes, Some(stored.revision))
        .await
        .unwrap();
    set_label(store, "Pod", "", "my-nginx-pod", "team", "a").await;

    assert_eq!(apply_ok(store, NGINX_POD).await, [Action::Unchanged]);
    let value = json(&get(store, "Pod", "", "my-nginx-pod").await.unwrap());
    assert_eq!(value["spec"]["nodeName"], "n1");
    assert_eq!(value["metadata"]["labels"]["team"], "a");
}

#[tokio::test]
async fn fields_removed_from_the_manifest_are_removed() {
    let store = store().await;
    let store = store.as_ref();
    let with_labels = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {a: '1', b: '2'}\ndata: {x: '1', y: '2'}\n";
    let fewer = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {a: '1'}\ndata: {x: '1'}\n";
    apply_ok(store, with_labels).await;
    assert_eq!(apply_ok(store, fewer).await, [Action::Configured]);
    let value = json(&get(store, "ConfigMap", "", "c").await.unwrap());
    assert_eq!(value["metadata"]["labels"], json!({"a": "1"}));
    assert_eq!(value["data"], json!({"x": "1"}));
}

#[tokio::test]
async fn strict_decoding_names_the_document_and_the_field() {
    let store = store().await;
    let typo = format!(
        "{}---\n{}",
        config_map("ok", "default", "v"),
        NGINX_POD.replace("      ports:", "      imagePullPolcy: Always\n      ports:")
    );
    let err = apply_err(store.as_ref(), &typo).await;
    assert_eq!(code(err.clone()), Code::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "test.yaml: document 2: spec.containers[0].imagePullPolcy: unknown field \"imagePullPolcy\""
    );
    let (items, _) = list(
        store.as_ref(),
        &Scope::new("ConfigMap", "", true, "").unwrap(),
    )
    .await
    .unwrap();
    assert!(items.is_empty(), "nothing is written when a document fails");
}

#[tokio::test]
async fn unsupported_kinds_and_invalid_names_are_refused() {
    let store = store().await;
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\n";
    let err = apply_err(store.as_ref(), ingress).await;
    assert_eq!(code(err.clone()), Code::InvalidArgument);
    let text = err.to_string();
    assert!(text.contains("unsupported kind \"Ingress\""), "{text}");
    assert!(text.contains("apps/v1/Deployment"), "{text}");

    let bad_name = NGINX_POD.replace("name: my-nginx-pod", "name: My_Pod");
    let text = apply_err(store.as_ref(), &bad_name).await.to_string();
    assert!(
        text.starts_with(
            "test.yaml: Pod \"My_Pod\" is invalid: metadata.name: Invalid value: \"My_Pod\""
        ),
        "{text}"
    );
    assert!(text.contains("RFC 1123"), "{text}");
}

#[tokio::test]
async fn pod_specs_are_immutable_but_for_images() {
    let store = store().await;
    apply_ok(store.as_ref(), NGINX_POD).await;
    let ports = NGINX_POD.replace("containerPort: 80", "containerPort: 8080");
    let err = apply_err(store.as_ref(), &ports).await;
    assert_eq!(code(err.clone()), Code::InvalidArgument);
    let text = err.to_string();
    assert!(
        text.contains(
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
        ),
        "{text}"
    );
    assert!(text.contains("spec.containers[0].ports"), "{text}");
}

#[tokio::test]
async fn namespaces_must_exist_or_come_first_in_the_manifest() {
    let store = store().await;
    let store = store.as_ref();
    let err = apply_err(store, &config_map("c", "team-a", "v")).await;
    assert_eq!(code(err.clone()), Code::NotFound);
    assert!(
        err.to_string().contains("namespace \"team-a\" not found"),
        "{err}"
    );

    let both = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: team-a}}\n---\n{}",
        config_map("c", "team-a", "v")
    );
    assert_eq!(
        apply_ok(store, &both).await,
        [Action::Created, Action::Created]
    );
    let ns = json(&get(store, "Namespace", "", "team-a").await.unwrap());
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team-a"
    );
    assert_eq!(
        apply_ok(store, &both).await,
        [Action::Unchanged, Action::Unchanged]
    );

    // -n fills in a missing namespace, and must agree with one that is given.
    let unnamespaced = NGINX_POD;
    let results = apply(store, &SystemClock, "-", unnamespaced, "team-a")
        .await
        .unwrap();
    assert_eq!(results[0].object.namespace, "team-a");
    let err = apply(
        store,
        &SystemClock,
        "-",
        &config_map("c", "team-a", "v"),
        "default",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[tokio::test]
async fn stale_resource_versions_conflict() {
    let store = store().await;
    let store = store.as_ref();
    let manifest = config_map("c", "default", "first");
    let first = apply(store, &SystemClock, "-", &manifest, "")
        .await
        .unwrap()
        .remove(0)
        .object;
    apply_ok(store, &config_map("c", "default", "second")).await;

    // A direct update with the revision read before someone else's write.
    let key = Key::new("ConfigMap", "default", "c");
    let stale: i64 = first.resource_version.parse().unwrap();
    let err = Error::from(
        store
            .update(key, first.json.clone(), Some(stale))
            .await
            .unwrap_err(),
    );
    assert_eq!(code(err), Code::Aborted);

    // The same through apply: a manifest that pins the resourceVersion it was read at.
    let pinned = manifest.replace(
        "  labels:",
        &format!("  resourceVersion: \"{stale}\"\n  labels:"),
    );
    let err = apply_err(store, &pinned.replace("first", "third")).await;
    assert_eq!(code(err.clone()), Code::Aborted, "{err}");
    assert!(err.to_string().contains("has been modified"), "{err}");
}
