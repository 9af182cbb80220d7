//! Watch BOOKMARKs and consistent list pages, through the `kube` crate (a client no one
//! here wrote) and raw requests, against a real control plane:
//! - a watcher of a quiet kind gets BOOKMARKs whose resourceVersion follows other kinds'
//!   writes, so it resumes without 410 after a compaction that expires where it started;
//! - a paginated list shows the first page's state on every page, whatever is created,
//!   changed or deleted in between; a page whose revision is compacted is 410 Expired
//!   with kube-apiserver's message and a token to go on inconsistently;
//! - a Table watch (`kubectl get -w`) gets its BOOKMARKs as Tables.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, VersionMatch, WatchEvent,
    WatchParams,
};
use kube::core::ObjectMeta;
use serde_json::json;
use skiff_e2e::kube_client::for_cluster;
use skiff_e2e::rest::Rest;
use skiff_e2e::TestControlPlane;

/// kube-apiserver's message for a continue token whose revision is compacted.
const INCONSISTENT: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// A control plane with second-long BOOKMARK periods and, when `compacting`, a store
/// that keeps only the last 2 revisions watchable (compacted every second).
fn control_plane(compacting: bool) -> Option<TestControlPlane> {
    if !skiff_e2e::require_root_and_tools() {
        return None;
    }
    let mut args = vec!["--watch-bookmark-interval", "1s"];
    if compacting {
        args.extend(["--compact-keep", "2", "--compact-interval", "1s"]);
    }
    Some(TestControlPlane::start_with_args(&args).expect("control plane"))
}

/// Not the CA ConfigMap every namespace has (`kube-root-ca.crt`).
fn ours(cm: &ConfigMap) -> bool {
    cm.metadata.name.as_deref() != Some("kube-root-ca.crt")
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

fn rv(meta: &ObjectMeta) -> i64 {
    meta.resource_version.as_deref().unwrap().parse().unwrap()
}

/// Waits until a watch from `from` is refused with 410: the store compacted past it.
async fn until_expired(secrets: &Api<Secret>, from: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut events = secrets
            .watch(&WatchParams::default().timeout(1), from)
            .await
            .unwrap()
            .boxed();
        if let Some(WatchEvent::Error(status)) = events.try_next().await.unwrap() {
            assert_eq!(status.code, 410, "{status:?}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{from} never expired"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bookmark_lets_a_quiet_watcher_resume_after_compaction() {
    let Some(cp) = control_plane(true) else {
        return;
    };
    let client = for_cluster(&cp).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let started = secrets.list(&ListParams::default()).await.unwrap();
    let from = started.metadata.resource_version.unwrap();

    // Secrets stay quiet; ConfigMaps are written.
    let mut watch = secrets
        .watch(&WatchParams::default().timeout(60), &from)
        .await
        .unwrap()
        .boxed();
    let mut last = cms
        .create(&PostParams::default(), &cm("busy", "0"))
        .await
        .unwrap();
    for n in 1..6 {
        let patch = Patch::Merge(json!({"data": {"k": n.to_string()}}));
        last = cms
            .patch("busy", &PatchParams::default(), &patch)
            .await
            .unwrap();
    }
    let written = rv(&last.metadata);
    let bookmark = loop {
        let event = tokio::time::timeout(Duration::from_secs(20), watch.try_next())
            .await
            .expect("a BOOKMARK within the period")
            .unwrap()
            .expect("the watch goes on");
        match event {
            WatchEvent::Bookmark(b) => {
                // Past the last write only if something else wrote meanwhile.
                let at: i64 = b.metadata.resource_version.parse().unwrap();
                assert_eq!(b.types.kind, "Secret");
                assert_eq!(b.types.api_version, "v1");
                if at >= written {
                    break b.metadata.resource_version;
                }
            }
            other => panic!("only BOOKMARKs on a quiet kind: {other:?}"),
        }
    };
    drop(watch);

    // Where the watcher started is compacted away; its bookmark is not.
    until_expired(&secrets, &from).await;
    let mut resumed = secrets
        .watch(&WatchParams::default().timeout(20), &bookmark)
        .await
        .unwrap()
        .boxed();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("after".into()),
            ..Default::default()
        },
        string_data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    loop {
        match resumed.try_next().await.unwrap() {
            Some(WatchEvent::Added(s)) => {
                assert_eq!(s.metadata.name.as_deref(), Some("after"));
                break;
            }
            Some(WatchEvent::Bookmark(_)) => continue,
            other => panic!("resumed from the bookmark, expected the new Secret: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_the_first_pages_state() {
    let Some(cp) = control_plane(false) else {
        return;
    };
    let client = for_cluster(&cp).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..6 {
        cms.create(&PostParams::default(), &cm(&format!("p-{i}"), "old"))
            .await
            .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    let at = first.metadata.resource_version.clone().unwrap();
    let mut token = first.metadata.continue_.clone().expect("more pages");
    let mut seen: Vec<(String, String)> = first
        .items
        .iter()
        .filter(|c| ours(c))
        .map(|c| {
            (
                c.metadata.name.clone().unwrap(),
                c.data.as_ref().unwrap()["k"].clone(),
            )
        })
        .collect();

    // Between the pages: a create after the first page's names, a delete and an update
    // of objects not listed yet.
    cms.create(&PostParams::default(), &cm("p-9", "new"))
        .await
        .unwrap();
    cms.delete("p-4", &DeleteParams::default()).await.unwrap();
    let patch = Patch::Merge(json!({"data": {"k": "new"}}));
    cms.patch("p-3", &PatchParams::default(), &patch)
        .await
        .unwrap();

    loop {
        let page = cms
            .list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .unwrap();
        assert_eq!(page.metadata.resource_version.as_deref(), Some(at.as_str()));
        seen.extend(page.items.iter().filter(|c| ours(c)).map(|c| {
            (
                c.metadata.name.clone().unwrap(),
                c.data.as_ref().unwrap()["k"].clone(),
            )
        }));
        match page.metadata.continue_ {
            Some(next) if !next.is_empty() => token = next,
            _ => break,
        }
    }
    let expected: Vec<(String, String)> = (0..6)
        .map(|i| (format!("p-{i}"), "old".to_string()))
        .collect();
    assert_eq!(seen, expected);

    // resourceVersionMatch=Exact reads the same past state; a fresh list the new one.
    let exact = cms
        .list(&ListParams::default().at(&at).matching(VersionMatch::Exact))
        .await
        .unwrap();
    assert_eq!(exact.items.iter().filter(|c| ours(c)).count(), 6);
    assert_eq!(
        exact.metadata.resource_version.as_deref(),
        Some(at.as_str())
    );
    let now = cms.list(&ListParams::default()).await.unwrap();
    let names: Vec<_> = now
        .items
        .iter()
        .filter(|c| ours(c))
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["p-0", "p-1", "p-2", "p-3", "p-5", "p-9"]);
}

#[test]
fn a_continue_after_compaction_is_410_with_a_token_to_go_on() {
    let Some(cp) = control_plane(true) else {
        return;
    };
    let rest = Rest::new(&cp).unwrap();
    const CMS: &str = "/api/v1/namespaces/default/configmaps";
    for i in 0..4 {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c-{i}")}});
        assert_eq!(rest.post(CMS, &body).unwrap().code, 201);
    }
    let first = rest.get(&format!("{CMS}?limit=2")).unwrap().json();
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let late = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c-9"}});
    assert_eq!(rest.post(CMS, &late).unwrap().code, 201);

    // Writes until the compactor passes the first page's revision.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let expired = loop {
        let page = rest
            .get(&format!("{CMS}?limit=2&continue={token}"))
            .unwrap();
        if page.code == 410 {
            break page.json();
        }
        assert_eq!(page.code, 200, "{}", page.text);
        assert!(
            std::time::Instant::now() < deadline,
            "the page never expired"
        );
        let patch = rest
            .send(
                "PATCH",
                &format!("{CMS}/c-9"),
                Some((
                    "application/merge-patch+json",
                    serde_json::to_vec(
                        &json!({"data": {"n": format!("{:?}", std::time::Instant::now())}}),
                    )
                    .unwrap(),
                )),
                false,
            )
            .unwrap();
        assert_eq!(patch.code, 200, "{}", patch.text);
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(expired["kind"], "Status");
    assert_eq!(expired["code"], 410);
    assert_eq!(expired["reason"], "Expired");
    assert_eq!(expired["message"], INCONSISTENT);
    let inconsistent = expired["metadata"]["continue"]
        .as_str()
        .expect("a token to go on");

    // Going on with it reads the current state after the first page's last name.
    let rest_of_it = rest
        .get(&format!("{CMS}?limit=10&continue={inconsistent}"))
        .unwrap();
    assert_eq!(rest_of_it.code, 200, "{}", rest_of_it.text);
    let names: Vec<_> = rest_of_it.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .filter(|n| n != "kube-root-ca.crt")
        .collect();
    assert_eq!(names, ["c-2", "c-3", "c-9"]);

    // An Exact list at a compacted revision is 410 too; `Exact` needs a resourceVersion.
    let rv = first["metadata"]["resourceVersion"].as_str().unwrap();
    let old = rest
        .get(&format!(
            "{CMS}?resourceVersion={rv}&resourceVersionMatch=Exact"
        ))
        .unwrap();
    assert_eq!(old.code, 410, "{}", old.text);
    assert_eq!(
        old.json()["message"],
        "The resourceVersion for the provided list is too old."
    );
    let bad = rest
        .get(&format!("{CMS}?resourceVersionMatch=Exact"))
        .unwrap();
    assert_eq!(bad.code, 422, "{}", bad.text);
    let future = rest
        .get(&format!(
            "{CMS}?resourceVersion=999999&resourceVersionMatch=NotOlderThan"
        ))
        .unwrap();
    assert_eq!(future.code, 504, "{}", future.text);
}

#[test]
fn a_table_watch_gets_its_bookmarks_as_tables() {
    let Some(cp) = control_plane(false) else {
        return;
    };
    let rest = Rest::new(&cp).unwrap();
    const CMS: &str = "/api/v1/namespaces/default/configmaps";
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t"}});
    let created = rest.post(CMS, &body).unwrap().json();
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let lines = rest
        .watch_lines_accepting(
            &format!(
                "{CMS}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=4"
            ),
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .unwrap();
    assert!(!lines.is_empty(), "no BOOKMARK in 4 seconds");
    for line in &lines {
        assert_eq!(line["type"], "BOOKMARK", "{line}");
        assert_eq!(line["object"]["kind"], "Table", "{line}");
        assert_eq!(line["object"]["apiVersion"], "meta.k8s.io/v1");
        let at: i64 = line["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(at >= rv.parse().unwrap(), "{line}");
    }
    // Without allowWatchBookmarks, none.
    let quiet = rest
        .watch_lines(&format!(
            "{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=3"
        ))
        .unwrap();
    assert!(quiet.is_empty(), "{quiet:?}");
}
