//! The volume manager against a recording mount fake and in-memory objects: layout,
//! items, modes, optional sources, subPath, errors, resync, teardown.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use serde_json::json;

use super::fake::{FakeMounts, MountCall};
use super::BindMount;
use super::{container_mounts, VolumeManager};
use crate::objects::fake::FakeObjects;

fn node() -> BTreeMap<String, Quantity> {
    [
        ("cpu".to_string(), Quantity("2".into())),
        ("memory".to_string(), Quantity("1Gi".into())),
    ]
    .into()
}

struct Env {
    tmp: tempfile::TempDir,
    mounts: Arc<FakeMounts>,
    objects: FakeObjects,
    manager: VolumeManager,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let mounts = Arc::new(FakeMounts::default());
    let manager = VolumeManager::new(tmp.path(), mounts.clone(), node());
    Env {
        tmp,
        mounts,
        objects: FakeObjects::default(),
        manager,
    }
}

fn pod(volumes: serde_json::Value, mounts: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "prod", "uid": "uid-1", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "volumeMounts": mounts,
            "resources": {"limits": {"memory": "32Mi"}}}], "volumes": volumes}
    }))
    .unwrap()
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some("prod".into()),
        ..Default::default()
    }
}

fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: meta(name),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: meta(name),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

fn vol_dir(root: &Path, plugin: &str, name: &str) -> PathBuf {
    root.join("pods/prod_web_uid-1/volumes")
        .join(plugin)
        .join(name)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn container(p: &Pod) -> Container {
    p.spec.as_ref().unwrap().containers[0].clone()
}

#[tokio::test]
async fn config_map_volume_lands_in_the_kubelet_layout() {
    let e = env();
    e.objects.put(
        "ConfigMap",
        "prod",
        "game-config",
        config_map(
            "game-config",
            &[
                ("game.properties", "lives=3"),
                ("ui.properties", "color=red"),
            ],
        ),
    );
    let p = pod(
        json!([{"name": "config", "configMap": {"name": "game-config"}}]),
        json!([{"name": "config", "mountPath": "/etc/config"}]),
    );
    let volumes = e.manager.setup(&p, &e.objects).await.unwrap();
    let dir = vol_dir(e.tmp.path(), "kubernetes.io~configmap", "config");
    assert_eq!(volumes["config"].path, dir);
    assert!(volumes["config"].read_only);
    assert_eq!(
        fs::read_to_string(dir.join("game.properties")).unwrap(),
        "lives=3"
    );
    assert_eq!(mode(&dir.join("ui.properties")), 0o644);
    assert_eq!(
        fs::read_link(dir.join("game.properties")).unwrap(),
        Path::new("..data/game.properties")
    );
    assert_eq!(e.mounts.tmpfs_mounts(), 0, "configMaps live on disk");
    let mounts = container_mounts(&volumes, &container(&p), &[]).unwrap();
    assert_eq!(
        mounts,
        vec![BindMount {
            source: dir,
            destination: "/etc/config".into(),
            read_only: true
        }]
    );
}

#[tokio::test]
async fn items_modes_and_optional_sources() {
    let e = env();
    e.objects.put(
        "ConfigMap",
        "prod",
        "cm",
        config_map("cm", &[("a", "1"), ("b", "2")]),
    );
    e.objects.put(
        "Secret",
        "prod",
        "s",
        secret("s", &[("password", "hunter2")]),
    );
    let p = pod(
        json!([
            {"name": "items", "configMap": {"name": "cm", "defaultMode": 0o600,
                "items": [{"key": "a", "path": "dir/first"}, {"key": "b", "path": "second", "mode": 0o400}]}},
            {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o440}},
            {"name": "gone", "configMap": {"name": "nope", "optional": true}},
            {"name": "gone-key", "secret": {"secretName": "s", "optional": true,
                "items": [{"key": "missing", "path": "m"}]}}
        ]),
        json!([]),
    );
    e.manager.setup(&p, &e.objects).await.unwrap();
    let items = vol_dir(e.tmp.path(), "kubernetes.io~configmap", "items");
    assert_eq!(fs::read_to_string(items.join("dir/first")).unwrap(), "1");
    assert_eq!(mode(&items.join("dir/first")), 0o600);
    assert_eq!(mode(&items.join("second")), 0o400);
    assert!(
        !items.join("a").exists(),
        "only the listed items are projected"
    );
    let sec = vol_dir(e.tmp.path(), "kubernetes.io~secret", "sec");
    assert_eq!(fs::read_to_string(sec.join("password")).unwrap(), "hunter2");
    assert_eq!(mode(&sec.join("password")), 0o440);
    let gone = vol_dir(e.tmp.path(), "kubernetes.io~configmap", "gone");
    assert_eq!(
        fs::read_dir(&gone)
            .unwrap()
            .filter(|e| !e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".."))
            .count(),
        0
    );
    // Secrets, even an empty one, sit on a tmpfs of their own.
    let calls = e.mounts.calls.lock().unwrap().clone();
    let canon = |p: PathBuf| fs::canonicalize(p).unwrap();
    assert_eq!(
        calls,
        vec![
            MountCall::Tmpfs(canon(sec), None),
            MountCall::Tmpfs(
                canon(vol_dir(e.tmp.path(), "kubernetes.io~secret", "gone-key")),
                None
            ),
        ]
    );
}

#[tokio::test]
async fn missing_objects_and_keys_name_the_volume() {
    let e = env();
    let p = pod(
        json!([{"name": "config", "configMap": {"name": "game-config"}}]),
        json!([]),
    );
    let err = e.manager.setup(&p, &e.objects).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "MountVolume.SetUp failed for volume \"config\" : configmap \"game-config\" not found"
    );
    e.objects.put(
        "ConfigMap",
        "prod",
        "game-config",
        config_map("game-config", &[("x", "1")]),
    );
    e.manager.setup(&p, &e.objects).await.unwrap();

    let p = pod(
        json!([{"name": "s", "secret": {"secretName": "s", "items": [{"key": "k", "path": "k"}]}}]),
        json!([]),
    );
    let err = e.manager.setup(&p, &e.objects).await.unwrap_err();
    assert!(
        err.to_string().ends_with(": secret \"s\" not found"),
        "{err}"
    );
    e.objects
        .put("Secret", "prod", "s", secret("s", &[("other", "1")]));
    let err = e.manager.setup(&p, &e.objects).await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("references non-existent secret key: k"),
        "{err}"
    );

    let standalone = crate::objects::NoObjects;
    let err = e.manager.setup(&p, &standalone).await.unwrap_err();
    assert!(
        err.message.contains("not joined to a control plane"),
        "{err}"
    );
}

#[tokio::test]
async fn an_update_reaches_the_files_but_not_a_sub_path_mount() {
    let e = env();
    e.objects.put(
        "ConfigMap",
        "prod",
        "cm",
        config_map("cm", &[("key", "v1")]),
    );
    let p = pod(
        json!([{"name": "cm", "configMap": {"name": "cm"}}]),
        json!([{"name": "cm", "mountPath": "/whole"},
               {"name": "cm", "mountPath": "/one/key", "subPath": "key"}]),
    );
    let volumes = e.manager.setup(&p, &e.objects).await.unwrap();
    let mounts = container_mounts(&volumes, &container(&p), &[]).unwrap();
    let dir = vol_dir(e.tmp.path(), "kubernetes.io~configmap", "cm");
    let sub_source = mounts[1].source.clone();
    assert!(sub_source.starts_with(fs::canonicalize(&dir).unwrap()));
    assert_eq!(fs::read_to_string(&sub_source).unwrap(), "v1");

    e.objects.put(
        "ConfigMap",
        "prod",
        "cm",
        config_map("cm", &[("key", "v2")]),
    );
    e.manager.resync(&e.objects).await;
    assert_eq!(fs::read_to_string(dir.join("key")).unwrap(), "v2");
    // The subPath source was a file of the old timestamped dir, which is gone now: the
    // bind mount made from it keeps the old inode, as in Kubernetes.
    assert!(!sub_source.exists());
}

#[tokio::test]
async fn empty_dirs_host_paths_and_downward_api() {
    let e = env();
    let host = e.tmp.path().join("host-data");
    let p = pod(
        json!([
            {"name": "scratch", "emptyDir": {}},
            {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "host", "hostPath": {"path": host.to_str().unwrap(), "type": "DirectoryOrCreate"}},
            {"name": "info", "downwardAPI": {"items": [
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}
            ]}}
        ]),
        json!([{"name": "scratch", "mountPath": "/scratch"},
               {"name": "host", "mountPath": "/host", "readOnly": true}]),
    );
    let volumes = e.manager.setup(&p, &e.objects).await.unwrap();
    let scratch = vol_dir(e.tmp.path(), "kubernetes.io~empty-dir", "scratch");
    assert!(scratch.is_dir());
    assert_eq!(mode(&scratch), 0o777);
    assert!(host.is_dir());
    assert_eq!(volumes["host"].path, host);
    let info = vol_dir(e.tmp.path(), "kubernetes.io~downward-api", "info");
    assert_eq!(fs::read_to_string(info.join("name")).unwrap(), "web");
    assert_eq!(
        fs::read_to_string(info.join("labels")).unwrap(),
        "app=\"web\""
    );
    assert_eq!(fs::read_to_string(info.join("mem")).unwrap(), "32");
    let mem = fs::canonicalize(vol_dir(e.tmp.path(), "kubernetes.io~empty-dir", "mem")).unwrap();
    assert!(e
        .mounts
        .calls
        .lock()
        .unwrap()
        .contains(&MountCall::Tmpfs(mem, Some(1 << 20))));
    let mounts = container_mounts(&volumes, &container(&p), &[]).unwrap();
    assert!(!mounts[0].read_only && mounts[1].read_only);
}

#[tokio::test]
async fn a_host_path_of_the_wrong_type_fails_with_the_kubelets_words() {
    let e = env();
    let file = e.tmp.path().join("a-file");
    fs::write(&file, "x").unwrap();
    let p = pod(
        json!([{"name": "h", "hostPath": {"path": file.to_str().unwrap(), "type": "Directory"}}]),
        json!([]),
    );
    let err = e.manager.setup(&p, &e.objects).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "MountVolume.SetUp failed for volume \"h\" : hostPath type check failed: {} is not a directory",
            file.display()
        )
    );
}

#[tokio::test]
async fn projected_volumes_merge_their_sources_and_a_standalone_agent_has_no_tokens() {
    let e = env();
    e.objects
        .put("ConfigMap", "prod", "cm", config_map("cm", &[("a", "1")]));
    e.objects
        .put("Secret", "prod", "s", secret("s", &[("b", "2")]));
    let p = pod(
        json!([{"name": "all", "projected": {"defaultMode": 0o600, "sources": [
            {"configMap": {"name": "cm"}},
            {"secret": {"name": "s", "items": [{"key": "b", "path": "nested/b"}]}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
        ]}}]),
        json!([]),
    );
    e.manager.setup(&p, &e.objects).await.unwrap();
    let dir = vol_dir(e.tmp.path(), "kubernetes.io~projected", "all");
    assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "1");
    assert_eq!(fs::read_to_string(dir.join("nested/b")).unwrap(), "2");
    assert_eq!(fs::read_to_string(dir.join("ns")).unwrap(), "prod");
    assert_eq!(mode(&dir.join("a")), 0o600);
    assert_eq!(e.mounts.tmpfs_mounts(), 1);

    let token = pod(
        json!([{"name": "tok", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token"}}]}}]),
        json!([]),
    );
    let err = e.manager.setup(&token, &e.objects).await.unwrap_err();
    assert_eq!(err.volume, "tok");
    assert!(
        err.message
            .starts_with("failed to fetch token: this agent is not joined"),
        "{err}"
    );
}

#[tokio::test]
async fn claims_mount_their_bound_volume() {
    let e = env();
    let dir = e.tmp.path().join("local-path/pvc-1_prod_data");
    let p = pod(
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]),
        json!([{"name": "data", "mountPath": "/data"}]),
    );
    let err = e.manager.setup(&p, &e.objects).await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("persistentvolumeclaim \"data\" not found"),
        "{err}"
    );
    e.objects.put(
        "PersistentVolumeClaim",
        "prod",
        "data",
        json!({"metadata": {"name": "data", "namespace": "prod"}, "spec": {}, "status": {"phase": "Pending"}}),
    );
    let err = e.manager.setup(&p, &e.objects).await.unwrap_err();
    assert!(err.message.contains("is not bound"), "{err}");
    e.objects.put(
        "PersistentVolumeClaim",
        "prod",
        "data",
        json!({"metadata": {"name": "data", "namespace": "prod"},
            "spec": {"volumeName": "pvc-1"}, "status": {"phase": "Bound"}}),
    );
    e.objects.put(
        "PersistentVolume",
        "",
        "pvc-1",
        json!({"metadata": {"name": "pvc-1",
                "annotations": {"pv.kubernetes.io/provisioned-by": "skiff.io/local-path"}},
            "spec": {
                "hostPath": {"path": dir.to_str().unwrap(), "type": "DirectoryOrCreate"},
                "storageClassName": "local-path"}}),
    );
    let volumes = e.manager.setup(&p, &e.objects).await.unwrap();
    assert!(dir.is_dir());
    // Writable by a pod running as any user, as k3s' local-path makes them.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o777);
    assert_eq!(volumes["data"].path, dir);
    assert!(!volumes["data"].read_only);
}

#[tokio::test]
async fn sub_paths_and_sub_path_exprs_stay_inside_the_volume() {
    let e = env();
    let p = pod(
        json!([{"name": "scratch", "emptyDir": {}}]),
        json!([
            {"name": "scratch", "mountPath": "/a", "subPath": "one/two"},
            {"name": "scratch", "mountPath": "/b", "subPathExpr": "logs/$(POD_NAME)"}
        ]),
    );
    let volumes = e.manager.setup(&p, &e.objects).await.unwrap();
    let base =
        fs::canonicalize(vol_dir(e.tmp.path(), "kubernetes.io~empty-dir", "scratch")).unwrap();
    let env = [("POD_NAME".to_string(), "web".to_string())];
    let mounts = container_mounts(&volumes, &container(&p), &env).unwrap();
    assert_eq!(mounts[0].source, base.join("one/two"));
    assert_eq!(mounts[1].source, base.join("logs/web"));
    assert!(base.join("logs/web").is_dir(), "a missing subPath is made");
    let err = container_mounts(&volumes, &container(&p), &[]).unwrap_err();
    assert!(err.contains("missing value for POD_NAME"), "{err}");

    let mut bad = container(&p);
    bad.volume_mounts = Some(vec![serde_json::from_value(
        json!({"name": "scratch", "mountPath": "/x", "subPath": "../escape"}),
    )
    .unwrap()]);
    assert!(container_mounts(&volumes, &bad, &[]).is_err());
    std::os::unix::fs::symlink("/etc", base.join("link")).unwrap();
    bad.volume_mounts = Some(vec![serde_json::from_value(
        json!({"name": "scratch", "mountPath": "/x", "subPath": "link"}),
    )
    .unwrap()]);
    let err = container_mounts(&volumes, &bad, &[]).unwrap_err();
    assert!(err.contains("outside the volume"), "{err}");
}

#[tokio::test]
async fn setup_again_is_idempotent_and_teardown_removes_everything() {
    let e = env();
    e.objects
        .put("Secret", "prod", "s", secret("s", &[("k", "v")]));
    let p = pod(
        json!([{"name": "sec", "secret": {"secretName": "s"}}, {"name": "mem", "emptyDir": {"medium": "Memory"}}]),
        json!([]),
    );
    e.manager.setup(&p, &e.objects).await.unwrap();
    let sec = vol_dir(e.tmp.path(), "kubernetes.io~secret", "sec");
    let ts = fs::read_link(sec.join("..data")).unwrap();
    // An agent restart: the same pod set up again keeps its tmpfs and its files.
    let again = VolumeManager::new(e.tmp.path(), e.mounts.clone(), node());
    again.setup(&p, &e.objects).await.unwrap();
    assert_eq!(e.mounts.tmpfs_mounts(), 2);
    assert_eq!(fs::read_link(sec.join("..data")).unwrap(), ts);

    again.teardown(&p).unwrap();
    assert!(e.mounts.mounted.lock().unwrap().is_empty());
    assert!(!e.tmp.path().join("pods/prod_web_uid-1/volumes").exists());
    // A torn-down pod is not refreshed back into existence.
    again.resync(&e.objects).await;
    assert!(!sec.exists());
}

#[tokio::test]
async fn unclaimed_pod_volumes_are_removed_at_start_and_cleanup_unmounts() {
    let e = env();
    e.objects
        .put("Secret", "prod", "s", secret("s", &[("k", "v")]));
    let p = pod(
        json!([{"name": "sec", "secret": {"secretName": "s"}}]),
        json!([]),
    );
    e.manager.setup(&p, &e.objects).await.unwrap();
    let mut other = p.clone();
    other.metadata.uid = Some("uid-2".into());
    e.manager.setup(&other, &e.objects).await.unwrap();
    let fresh = VolumeManager::new(e.tmp.path(), e.mounts.clone(), node());
    fresh.remove_unclaimed(&HashSet::from(["uid-2".to_string()]));
    assert!(!e.tmp.path().join("pods/prod_web_uid-1/volumes").exists());
    assert!(e.tmp.path().join("pods/prod_web_uid-2/volumes").exists());
    assert_eq!(fresh.unmount_all().unwrap(), 1);
    assert!(e.mounts.mounted.lock().unwrap().is_empty());
}
