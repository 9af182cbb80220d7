//! Tokens, their validation and the pod admission against `MemoryStore`.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{json, Value};

use super::*;
use crate::core::{Error, ManualClock, SystemClock};
use crate::pki::ServiceAccountKey;
use crate::resources::{apply, bootstrap, objects};
use crate::store::{Key, MemoryStore, Store};

const NOW: &str = "2026-01-01T00:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

async fn store() -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    bootstrap(store.as_ref(), &SystemClock).await.unwrap();
    store
}

async fn put(store: &dyn Store, kind: &str, namespace: &str, name: &str, extra: Value) {
    let uid = format!("uid-{name}");
    let mut object = json!({"apiVersion": "v1", "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "uid": uid}});
    if let (Some(o), Some(e)) = (object.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    store
        .create(
            Key::new(kind, namespace, name),
            uid,
            objects::to_bytes(&object),
        )
        .await
        .unwrap();
}

async fn remove(store: &dyn Store, kind: &str, namespace: &str, name: &str) {
    store
        .delete(&Key::new(kind, namespace, name), None)
        .await
        .unwrap();
}

fn spec(bound: Option<(&str, &str)>) -> TokenSpec {
    TokenSpec {
        audiences: Vec::new(),
        expiration_seconds: DEFAULT_EXPIRATION_SECONDS,
        bound: bound.map(|(kind, name)| BoundObject {
            kind: kind.into(),
            name: name.into(),
            uid: None,
        }),
    }
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_token_carries_kubes_claims_and_authenticates_as_the_account() {
    let store = store().await;
    let store = store.as_ref();
    let key = ServiceAccountKey::generate();
    put(store, "ServiceAccount", "shop", "builder", json!({})).await;
    put(store, "Node", "", "n1", json!({})).await;
    put(
        store,
        "Pod",
        "shop",
        "web",
        json!({"spec": {"serviceAccountName": "builder", "nodeName": "n1"}}),
    )
    .await;
    let issued = issue(
        store,
        &key,
        now(),
        "shop",
        "builder",
        spec(Some(("Pod", "web"))),
    )
    .await
    .unwrap();
    assert_eq!(issued.audiences, [API_AUDIENCE]);
    assert_eq!(issued.expires.as_second(), now().as_second() + 3600);
    let c = claims(&issued.token);
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], "system:serviceaccount:shop:builder");
    assert_eq!(c["aud"], json!([API_AUDIENCE]));
    assert_eq!(c["iat"], now().as_second());
    assert_eq!(c["nbf"], now().as_second());
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(
        c["kubernetes.io"],
        json!({
            "namespace": "shop",
            "serviceaccount": {"name": "builder", "uid": "uid-builder"},
            "pod": {"name": "web", "uid": "uid-web"},
            "node": {"name": "n1", "uid": "uid-n1"},
        })
    );
    let user = authenticate(store, &key, now(), &issued.token)
        .await
        .unwrap();
    assert_eq!(user.user_name(), "system:serviceaccount:shop:builder");
    assert_eq!(
        user.groups(),
        ["system:serviceaccounts", "system:serviceaccounts:shop"]
    );
}

#[tokio::test]
async fn token_requests_are_checked_as_kubes() {
    let store = store().await;
    let store = store.as_ref();
    let key = ServiceAccountKey::generate();
    put(store, "ServiceAccount", "shop", "builder", json!({})).await;
    put(
        store,
        "Pod",
        "shop",
        "other",
        json!({"spec": {"serviceAccountName": "default"}}),
    )
    .await;
    let err = |r: Result<Issued, Error>| r.unwrap_err();
    let short = TokenSpec {
        expiration_seconds: 599,
        ..spec(None)
    };
    assert!(matches!(
        err(issue(store, &key, now(), "shop", "builder", short).await),
        Error::Invalid(m) if m.contains("less than 10 minutes")
    ));
    let long = TokenSpec {
        expiration_seconds: 7 * 24 * 3600,
        ..spec(None)
    };
    let capped = issue(store, &key, now(), "shop", "builder", long)
        .await
        .unwrap();
    assert_eq!(capped.expiration_seconds, MAX_EXPIRATION_SECONDS);
    assert_eq!(
        err(issue(store, &key, now(), "shop", "ghost", spec(None)).await),
        Error::NotFound("serviceaccounts \"ghost\" not found".into())
    );
    assert_eq!(
        err(issue(
            store,
            &key,
            now(),
            "shop",
            "builder",
            spec(Some(("Pod", "gone")))
        )
        .await),
        Error::NotFound("pods \"gone\" not found".into())
    );
    assert!(matches!(
        err(issue(store, &key, now(), "shop", "builder", spec(Some(("Pod", "other")))).await),
        Error::Invalid(m) if m.contains("different serviceaccount name")
    ));
    assert!(matches!(
        err(issue(store, &key, now(), "shop", "builder", spec(Some(("Node", "n1")))).await),
        Error::Invalid(m) if m.contains("cannot bind token to object of type")
    ));
    let mut stale_uid = spec(Some(("Secret", "s")));
    put(store, "Secret", "shop", "s", json!({})).await;
    stale_uid.bound.as_mut().unwrap().uid = Some("old".into());
    assert!(matches!(
        err(issue(store, &key, now(), "shop", "builder", stale_uid).await),
        Error::Conflict(m) if m.contains("does not match the UID in record")
    ));
    let other_audience = TokenSpec {
        audiences: vec!["vault".into()],
        ..spec(None)
    };
    let issued = issue(store, &key, now(), "shop", "builder", other_audience)
        .await
        .unwrap();
    assert_eq!(claims(&issued.token)["aud"], json!(["vault"]));
}

#[tokio::test]
async fn tokens_stop_authenticating_when_they_should() {
    let store = store().await;
    let store = store.as_ref();
    let key = ServiceAccountKey::generate();
    put(store, "ServiceAccount", "shop", "builder", json!({})).await;
    put(
        store,
        "Pod",
        "shop",
        "web",
        json!({"spec": {"serviceAccountName": "builder"}}),
    )
    .await;
    put(store, "Secret", "shop", "s", json!({})).await;
    let token = |bound, audiences: &[&str]| {
        let spec = TokenSpec {
            audiences: audiences.iter().map(ToString::to_string).collect(),
            ..spec(bound)
        };
        let key = &key;
        async move {
            issue(store, key, now(), "shop", "builder", spec)
                .await
                .unwrap()
                .token
        }
    };
    let plain = token(None, &[]).await;
    let pod_bound = token(Some(("Pod", "web")), &[]).await;
    let secret_bound = token(Some(("Secret", "s")), &[]).await;
    let elsewhere = token(None, &["vault"]).await;
    let at = |seconds: i64| Timestamp::from_second(now().as_second() + seconds).unwrap();
    let ok = |t: &str, when| {
        let t = t.to_string();
        let key = &key;
        async move { authenticate(store, key, when, &t).await }
    };
    assert!(ok(&plain, at(3600 + 60)).await.is_ok(), "a minute's leeway");
    assert!(ok(&plain, at(3600 + 61))
        .await
        .unwrap_err()
        .contains("expired"));
    assert!(ok(&plain, at(-61))
        .await
        .unwrap_err()
        .contains("not valid yet"));
    assert!(ok(&elsewhere, now())
        .await
        .unwrap_err()
        .contains("audiences"));
    let other_key = ServiceAccountKey::generate();
    assert!(authenticate(store, &other_key, now(), &plain)
        .await
        .is_err());
    assert!(authenticate(store, &key, now(), "admin-token-like")
        .await
        .is_err());
    let foreign_issuer = key.sign(&{
        let mut c = claims(&plain);
        c["iss"] = json!("https://elsewhere");
        c
    });
    assert!(ok(&foreign_issuer, now())
        .await
        .unwrap_err()
        .contains("issuer"));

    // The bound pod goes (and comes back with another uid): its token no longer works.
    assert!(ok(&pod_bound, now()).await.is_ok());
    remove(store, "Pod", "shop", "web").await;
    assert!(ok(&pod_bound, now())
        .await
        .unwrap_err()
        .contains("pod shop/web has been deleted"));
    let mut again = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web-2"}});
    again["spec"] = json!({"serviceAccountName": "builder"});
    store
        .create(
            Key::new("Pod", "shop", "web"),
            "uid-web-2".into(),
            objects::to_bytes(&again),
        )
        .await
        .unwrap();
    assert!(ok(&pod_bound, now()).await.unwrap_err().contains("uid"));
    assert!(ok(&plain, now()).await.is_ok());

    assert!(ok(&secret_bound, now()).await.is_ok());
    remove(store, "Secret", "shop", "s").await;
    assert!(ok(&secret_bound, now()).await.is_err());

    // The account goes: every token of it stops working.
    remove(store, "ServiceAccount", "shop", "builder").await;
    assert!(ok(&plain, now())
        .await
        .unwrap_err()
        .contains("has been deleted"));
    put(store, "ServiceAccount", "shop", "builder", json!({})).await;
    // Same name, same test uid: authenticates again; another uid would not.
    assert!(ok(&plain, now()).await.is_ok());
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

async fn admit(store: &dyn Store, mut pod: Value) -> Result<Value, Error> {
    let key = Key::new("Pod", "default", "web");
    admit_pod(store, now(), &key, &mut pod).await.map(|()| pod)
}

#[tokio::test]
async fn admission_defaults_the_account_and_mounts_its_token() {
    let store = store().await;
    let store = store.as_ref();
    let admitted = admit(
        store,
        pod(json!({
            "initContainers": [{"name": "init", "image": "i"}],
            "containers": [
                {"name": "a", "image": "i", "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "b", "image": "i", "volumeMounts": [{"name": "own", "mountPath": TOKEN_MOUNT_PATH}]},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "own", "emptyDir": {}}],
        })),
    )
    .await
    .unwrap();
    let spec = &admitted["spec"];
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["serviceAccount"], "default");
    // `default` was missing in the fresh store: the admission made it.
    assert!(store
        .get(&Key::new("ServiceAccount", "default", "default"))
        .await
        .unwrap()
        .is_some());
    let volume = &spec["volumes"][2];
    let name = volume["name"].as_str().unwrap();
    assert!(
        name.starts_with("kube-api-access-") && name.len() == 21,
        "{name}"
    );
    assert_eq!(
        volume["projected"],
        json!({"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ]})
    );
    let mount = json!({"name": name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
    assert_eq!(spec["initContainers"][0]["volumeMounts"], json!([mount]));
    assert_eq!(spec["containers"][0]["volumeMounts"][1], mount);
    assert_eq!(
        spec["containers"][1]["volumeMounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn admission_respects_opt_outs_and_refuses_missing_accounts() {
    let store = store().await;
    let store = store.as_ref();
    let containers = json!([{"name": "a", "image": "i"}]);
    let opted_out = admit(
        store,
        pod(json!({"containers": containers, "automountServiceAccountToken": false})),
    )
    .await
    .unwrap();
    assert_eq!(opted_out["spec"].get("volumes"), None);
    put(
        store,
        "ServiceAccount",
        "default",
        "quiet",
        json!({"automountServiceAccountToken": false}),
    )
    .await;
    let quiet = admit(
        store,
        pod(json!({"containers": containers, "serviceAccount": "quiet"})),
    )
    .await
    .unwrap();
    assert_eq!(quiet["spec"]["serviceAccountName"], "quiet");
    assert_eq!(quiet["spec"].get("volumes"), None);
    let overridden = admit(
        store,
        pod(json!({"containers": containers, "serviceAccountName": "quiet", "automountServiceAccountToken": true})),
    )
    .await
    .unwrap();
    assert_eq!(overridden["spec"]["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(
        admit(store, pod(json!({"containers": containers, "serviceAccountName": "ghost"})))
            .await
            .unwrap_err(),
        Error::PermissionDenied(
            "pods \"web\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found".into()
        )
    );
}

#[tokio::test]
async fn mirror_pods_get_no_account_and_may_not_name_one() {
    let store = store().await;
    let store = store.as_ref();
    let mirror = |spec: Value| {
        let mut p = pod(spec);
        p["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"});
        p
    };
    let containers = json!([{"name": "a", "image": "i"}]);
    let admitted = admit(store, mirror(json!({"containers": containers})))
        .await
        .unwrap();
    assert_eq!(admitted["spec"].get("serviceAccountName"), None);
    assert_eq!(admitted["spec"].get("volumes"), None);
    let named = admit(
        store,
        mirror(json!({"containers": containers, "serviceAccountName": "default"})),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(named, Error::PermissionDenied(m) if m.contains("a mirror pod may not reference service accounts"))
    );
    let token =
        json!([{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]);
    let err = admit(
        store,
        mirror(json!({"containers": containers, "volumes": token})),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(m) if m.contains("ServiceAccountToken")));
}

#[tokio::test]
async fn pods_applied_or_made_by_controllers_go_through_the_admission() {
    let store = store().await;
    let store = store.as_ref();
    let clock = ManualClock::new(now());
    apply(
        store,
        &clock,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: a, image: i}]\n",
        "",
    )
    .await
    .unwrap();
    let stored = store
        .get(&Key::new("Pod", "default", "web"))
        .await
        .unwrap()
        .unwrap();
    let value = objects::parse(&stored).unwrap();
    assert_eq!(value["spec"]["serviceAccountName"], "default");
    assert!(value["spec"]["volumes"][0]["name"]
        .as_str()
        .unwrap()
        .starts_with(VOLUME_PREFIX));
}
