//! The `kube` crate (a client library no one here wrote) against a real control plane:
//! typed CRUD, every patch type, a watch resumed from a resourceVersion, and one from a
//! compacted resourceVersion answered with 410 Expired.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::ObjectMeta;
use serde_json::json;
use skiff_e2e::kube_client::for_cluster;
use skiff_e2e::TestControlPlane;

fn control_plane() -> Option<TestControlPlane> {
    if !skiff_e2e::require_root_and_tools() {
        return None;
    }
    Some(
        TestControlPlane::start_with_args(&["--compact-keep", "2", "--compact-interval", "1s"])
            .expect("control plane"),
    )
}

fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("k".to_string(), value.to_string())].into()),
        ..Default::default()
    }
}

fn value(cm: &ConfigMap, key: &str) -> Option<String> {
    cm.data.as_ref()?.get(key).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_and_every_patch_type() {
    let Some(cp) = control_plane() else { return };
    let client = for_cluster(&cp).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = cms
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    let err = cms
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );

    let mut got = cms.get("a").await.unwrap();
    got.data = Some([("k".to_string(), "2".to_string())].into());
    let replaced = cms
        .replace("a", &PostParams::default(), &got)
        .await
        .unwrap();
    assert_eq!(value(&replaced, "k").as_deref(), Some("2"));
    let stale = cms
        .replace("a", &PostParams::default(), &got)
        .await
        .unwrap_err();
    assert!(
        matches!(&stale, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{stale:?}"
    );

    let merged = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"m": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(value(&merged, "m").as_deref(), Some("3"));
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/data/k", "value": "4"},
        {"op": "remove", "path": "/data/m"}
    ]))
    .unwrap();
    let patched = cms
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(
        patched.data,
        Some([("k".to_string(), "4".to_string())].into())
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let web: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "a", "image": "nginx:1.10"}, {"name": "b", "image": "busybox"}]}}}
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &web)
        .await
        .unwrap();
    let strategic = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:1.11"}]}}}})),
        )
        .await
        .unwrap();
    let containers = strategic.spec.unwrap().template.spec.unwrap().containers;
    let images: Vec<_> = containers
        .iter()
        .map(|c| c.image.clone().unwrap_or_default())
        .collect();
    assert_eq!(images, ["nginx:1.11", "busybox"]);

    let listed = cms.list(&ListParams::default().labels("")).await.unwrap();
    // `a`, besides the CA ConfigMap every namespace has.
    let ours = listed
        .items
        .iter()
        .filter(|c| c.metadata.name.as_deref() != Some("kube-root-ca.crt"));
    assert_eq!(ours.count(), 1);
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let gone = cms.get_opt("a").await.unwrap();
    assert!(gone.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_and_an_expired_one_gets_410() {
    let Some(cp) = control_plane() else { return };
    let client = for_cluster(&cp).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = cms
        .create(&PostParams::default(), &cm("w", "0"))
        .await
        .unwrap();
    let from = first.metadata.resource_version.clone().unwrap();
    let patch = |n: usize| Patch::Merge(json!({"data": {"k": n.to_string()}}));
    cms.patch("w", &PatchParams::default(), &patch(1))
        .await
        .unwrap();

    // Resumed from the create: the one change after it, nothing before.
    let mut events = cms
        .watch(&WatchParams::default().timeout(2), &from)
        .await
        .unwrap()
        .boxed();
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Modified(cm)) => assert_eq!(value(&cm, "k").as_deref(), Some("1")),
        other => panic!("expected the change after {from}: {other:?}"),
    }
    drop(events);

    for n in 2..10 {
        cms.patch("w", &PatchParams::default(), &patch(n))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut events = cms
            .watch(&WatchParams::default().timeout(1), &from)
            .await
            .unwrap()
            .boxed();
        match events.try_next().await.unwrap() {
            Some(WatchEvent::Error(status)) => {
                assert_eq!(status.code, 410, "{status:?}");
                assert_eq!(status.reason, "Expired");
                break;
            }
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "never expired: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
