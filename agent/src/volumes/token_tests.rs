//! Projected service account tokens: written with the volume's other files, rewritten
//! by the resync only when the token manager refreshes them, dropped at teardown.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use serde_json::json;

use super::fake::FakeMounts;
use super::{layout, VolumeManager};
use crate::objects::fake::FakeObjects;
use crate::tokens::fake::{FakeClock, FakeTokens};
use crate::tokens::TokenManager;

struct Env {
    tmp: tempfile::TempDir,
    objects: FakeObjects,
    clock: Arc<FakeClock>,
    source: Arc<FakeTokens>,
    tokens: Arc<TokenManager>,
    manager: VolumeManager,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::default());
    let source = Arc::new(FakeTokens::new(clock.clone()));
    let tokens = Arc::new(TokenManager::new(source.clone(), clock.clone()));
    let manager = VolumeManager::new(
        tmp.path(),
        Arc::new(FakeMounts::default()),
        Default::default(),
    )
    .with_tokens(tokens.clone());
    let objects = FakeObjects::default();
    let ca: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "kube-root-ca.crt", "namespace": "team"},
        "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n"}
    }))
    .unwrap();
    objects.put("ConfigMap", "team", "kube-root-ca.crt", ca);
    Env {
        tmp,
        objects,
        clock,
        source,
        tokens,
        manager,
    }
}

/// The volume the API server's admission adds, with a 600 s token.
fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "client", "namespace": "team", "uid": "uid-7"},
        "spec": {"containers": [{"name": "c"}], "volumes": [{"name": "kube-api-access-abcde",
            "projected": {"defaultMode": 0o644, "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 600}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
            ]}}]}
    }))
    .unwrap()
}

impl Env {
    fn file(&self, name: &str) -> PathBuf {
        layout::volume_dir(
            self.tmp.path(),
            &pod(),
            layout::PROJECTED,
            "kube-api-access-abcde",
        )
        .join(name)
    }

    fn token(&self) -> String {
        fs::read_to_string(self.file("token")).unwrap()
    }
}

#[tokio::test]
async fn the_token_is_written_beside_the_ca_and_namespace() {
    let e = env();
    e.manager.setup(&pod(), &e.objects).await.unwrap();
    assert_eq!(e.token(), "token-1");
    assert_eq!(
        fs::read_to_string(e.file("ca.crt")).unwrap(),
        "-----BEGIN CERTIFICATE-----\n"
    );
    assert_eq!(fs::read_to_string(e.file("namespace")).unwrap(), "team");
    let mode = fs::metadata(e.file("token")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let asked = e.source.requests.lock().unwrap()[0].clone();
    assert_eq!(
        (
            asked.namespace.as_str(),
            asked.pod_name.as_str(),
            asked.pod_uid.as_str()
        ),
        ("team", "client", "uid-7")
    );
    assert_eq!(asked.expiration_seconds, 600);
    assert!(asked.audiences.is_empty());
}

#[tokio::test]
async fn the_resync_rewrites_the_token_at_80_percent_of_its_life() {
    let e = env();
    e.manager.setup(&pod(), &e.objects).await.unwrap();
    e.clock.advance(Duration::from_secs(470));
    e.manager.resync(&e.objects).await;
    assert_eq!(e.token(), "token-1", "not yet: 470 of 600 s");
    e.clock.advance(Duration::from_secs(10));
    e.manager.resync(&e.objects).await;
    assert_eq!(e.token(), "token-2");
    assert_eq!(e.source.count(), 2);
}

#[tokio::test]
async fn a_refused_token_fails_the_volume_and_teardown_drops_the_pod_s_tokens() {
    let e = env();
    e.source.refuse.store(true, Ordering::SeqCst);
    let err = e.manager.setup(&pod(), &e.objects).await.unwrap_err();
    assert_eq!(err.volume, "kube-api-access-abcde");
    assert_eq!(
        err.to_string(),
        "MountVolume.SetUp failed for volume \"kube-api-access-abcde\" : failed to fetch \
         token: forbidden: pod is not bound to this node"
    );
    e.source.refuse.store(false, Ordering::SeqCst);
    e.manager.setup(&pod(), &e.objects).await.unwrap();
    assert_eq!(e.tokens.cached(), 1);
    e.manager.teardown(&pod()).unwrap();
    assert_eq!(e.tokens.cached(), 0);
}
