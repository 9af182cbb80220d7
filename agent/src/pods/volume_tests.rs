//! Volumes in the pod worker, against the recording runtime, in-memory objects and the
//! recording mount fake: containers wait in ContainerCreating with the volume's error
//! until it can be set up, get their bind mounts, and the volumes go with the pod.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::timeout;

use super::fake::FakeRuntime;
use super::{PodManager, StatusStore, WorkerConfig};
use crate::objects::fake::FakeObjects;
use crate::pods::pod_runtime::BindMount;
use crate::sources::DesiredPods;
use crate::volumes::fake::FakeMounts;
use crate::volumes::VolumeManager;

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "game", "namespace": "default", "uid": "v1"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox",
            "volumeMounts": [{"name": "config", "mountPath": "/etc/config"},
                             {"name": "scratch", "mountPath": "/scratch"}]}],
            "volumes": [{"name": "config", "configMap": {"name": "game-config"}},
                        {"name": "scratch", "emptyDir": {"medium": "Memory"}}]}
    }))
    .unwrap()
}

fn waiting(store: &StatusStore) -> Option<(String, String)> {
    let pod = store.list().into_iter().next()?;
    let st = pod.status?.container_statuses?.into_iter().next()?;
    let w = st.state?.waiting?;
    Some((w.reason?, w.message.unwrap_or_default()))
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let polled = timeout(Duration::from_secs(3600), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    polled
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test(start_paused = true)]
async fn containers_wait_for_their_volumes_then_get_them_and_they_go_with_the_pod() {
    let root = tempfile::tempdir().unwrap();
    let rt = Arc::new(FakeRuntime::default());
    let objects = Arc::new(FakeObjects::default());
    let mounts = Arc::new(FakeMounts::default());
    let mut cfg = WorkerConfig::new(root.path().to_path_buf(), "node-a".into());
    cfg.objects = objects.clone();
    cfg.volumes = Arc::new(VolumeManager::new(
        root.path(),
        mounts.clone(),
        Default::default(),
    ));
    let store = StatusStore::default();
    let manager = PodManager::new(rt.clone(), cfg, store.clone());
    let (desired, rx) = watch::channel(DesiredPods::default());
    tokio::spawn(manager.run(rx));
    let p = pod();
    desired.send_replace(DesiredPods {
        pods: [("v1".to_string(), std::sync::Arc::new(p.clone()))].into(),
        ..DesiredPods::default()
    });

    until("the volume error shown", || {
        waiting(&store).is_some_and(|(_, m)| !m.is_empty())
    })
    .await;
    assert_eq!(
        waiting(&store).unwrap(),
        (
            "ContainerCreating".to_string(),
            "MountVolume.SetUp failed for volume \"config\" : configmap \"game-config\" not found"
                .to_string()
        )
    );
    // Still nothing started after a few retries.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(rt.starts().is_empty());

    objects.put(
        "ConfigMap",
        "default",
        "game-config",
        ConfigMap {
            data: Some([("game.properties".to_string(), "lives=3".to_string())].into()),
            ..Default::default()
        },
    );
    until("the container started", || !rt.starts().is_empty()).await;
    let pod_dir = root.path().join("pods/default_game_v1/volumes");
    let (_, config) = rt.configs.lock().unwrap()[0].clone();
    assert_eq!(
        config.mounts,
        vec![
            BindMount {
                source: pod_dir.join("kubernetes.io~configmap/config"),
                destination: "/etc/config".into(),
                read_only: true,
            },
            BindMount {
                source: pod_dir.join("kubernetes.io~empty-dir/scratch"),
                destination: "/scratch".into(),
                read_only: false,
            },
        ]
    );
    assert_eq!(
        std::fs::read_to_string(pod_dir.join("kubernetes.io~configmap/config/game.properties"))
            .unwrap(),
        "lives=3"
    );
    assert_eq!(mounts.mounted.lock().unwrap().len(), 1);

    desired.send_replace(DesiredPods::default());
    until("the pod gone", || store.list().is_empty()).await;
    assert!(
        mounts.mounted.lock().unwrap().is_empty(),
        "tmpfs left mounted"
    );
    assert!(!pod_dir.exists(), "volumes left behind");
}

#[tokio::test(start_paused = true)]
async fn an_empty_dir_past_its_size_limit_evicts_the_pod() {
    let root = tempfile::tempdir().unwrap();
    let rt = Arc::new(FakeRuntime::default());
    let mut cfg = WorkerConfig::new(root.path().to_path_buf(), "node-a".into());
    cfg.volumes = Arc::new(VolumeManager::new(
        root.path(),
        Arc::new(FakeMounts::default()),
        Default::default(),
    ));
    let store = StatusStore::default();
    let manager = PodManager::new(rt.clone(), cfg, store.clone());
    let (desired, rx) = watch::channel(DesiredPods::default());
    tokio::spawn(manager.run(rx));
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "filler", "namespace": "default", "uid": "e1"},
        "spec": {"containers": [{"name": "app", "image": "busybox",
            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "64Ki"}}]}
    }))
    .unwrap();
    desired.send_replace(DesiredPods {
        pods: [("e1".to_string(), std::sync::Arc::new(p))].into(),
        ..DesiredPods::default()
    });
    until("the container started", || !rt.starts().is_empty()).await;
    let scratch = root
        .path()
        .join("pods/default_filler_e1/volumes/kubernetes.io~empty-dir/scratch");
    std::fs::write(scratch.join("small"), vec![1u8; 4096]).unwrap();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let status = || store.list()[0].status.clone().unwrap();
    assert_eq!(status().phase.as_deref(), Some("Running"));

    std::fs::write(scratch.join("big"), vec![1u8; 256 * 1024]).unwrap();
    until("evicted", || status().phase.as_deref() == Some("Failed")).await;
    assert_eq!(status().reason.as_deref(), Some("Evicted"));
    assert_eq!(
        status().message.as_deref(),
        Some("Usage of EmptyDir volume \"scratch\" exceeds the limit \"64Ki\".")
    );
    until("the container stopped", || {
        rt.calls()
            .contains(&super::fake::Call::Stop("app-0".into()))
    })
    .await;
    // It stays stopped: nothing is started again.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(rt.starts().len(), 1);
}
