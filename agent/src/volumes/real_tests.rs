//! The volume manager with real mounts (root): secrets on a tmpfs, found again by a
//! second manager (an agent restart), unmounted and removed at teardown.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::ByteString;
use serde_json::json;

use super::{HostMountOps, MountOps, VolumeManager};
use crate::objects::fake::FakeObjects;
use crate::test_support::skip;

fn is_tmpfs(path: &std::path::Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        .unwrap_or(false)
}

#[tokio::test]
async fn secrets_live_on_a_tmpfs_that_survives_a_restart_and_goes_with_the_pod() {
    if !nix::unistd::geteuid().is_root() {
        skip("mounting a tmpfs needs root");
        return;
    }
    // Under /var/tmp, not /tmp: /tmp may itself be a tmpfs, which would prove nothing.
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let objects = FakeObjects::default();
    objects.put(
        "Secret",
        "default",
        "db",
        Secret {
            data: Some([("password".to_string(), ByteString(b"hunter2".to_vec()))].into()),
            ..Default::default()
        },
    );
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "vol-real", "namespace": "default", "uid": "vol-real-uid"},
        "spec": {"containers": [{"name": "c"}], "securityContext": {"fsGroup": 2345}, "volumes": [
            {"name": "db", "secret": {"secretName": "db"}},
            {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "64Ki"}}
        ]}
    }))
    .unwrap();
    let ops = Arc::new(HostMountOps);
    let manager = VolumeManager::new(tmp.path(), ops.clone(), Default::default());
    let volumes = manager.setup(&pod, &objects).await.unwrap();
    let secret_dir = &volumes["db"].path;
    let guard = Unmounter(tmp.path().to_path_buf());
    assert!(is_tmpfs(secret_dir), "the secret is not on a tmpfs");
    assert!(
        !is_tmpfs(tmp.path()),
        "the test directory itself is a tmpfs"
    );
    assert_eq!(
        fs::read_to_string(secret_dir.join("password")).unwrap(),
        "hunter2"
    );
    // fsGroup owns the files: group 2345, group-readable, directories setgid.
    let meta = fs::metadata(secret_dir.join("password")).unwrap();
    assert_eq!(
        (meta.gid(), meta.permissions().mode() & 0o777),
        (2345, 0o644)
    );
    let root = fs::metadata(secret_dir).unwrap();
    assert_eq!(root.gid(), 2345);
    assert_ne!(
        root.permissions().mode() & 0o2000,
        0,
        "no setgid on the volume"
    );
    // The memory emptyDir is capped at its sizeLimit by the kernel.
    let mem = &volumes["mem"].path;
    assert!(is_tmpfs(mem));
    let mem_meta = fs::metadata(mem).unwrap();
    assert_eq!(
        (mem_meta.gid(), mem_meta.permissions().mode() & 0o7777),
        (2345, 0o2777)
    );
    assert!(fs::write(mem.join("big"), vec![0u8; 256 * 1024]).is_err());

    // A restarted agent finds the same mounts: nothing stacked, files untouched.
    let before = ops.mounts_under(tmp.path()).unwrap();
    let again = VolumeManager::new(tmp.path(), ops.clone(), Default::default());
    again.setup(&pod, &objects).await.unwrap();
    assert_eq!(ops.mounts_under(tmp.path()).unwrap(), before);
    assert_eq!(before.len(), 2);

    again.teardown(&pod).unwrap();
    assert!(ops.mounts_under(tmp.path()).unwrap().is_empty());
    assert!(!secret_dir.exists());
    drop(guard);
}

/// Unmounts whatever a failed test left under the directory.
struct Unmounter(std::path::PathBuf);

impl Drop for Unmounter {
    fn drop(&mut self) {
        let ops = HostMountOps;
        for m in ops.mounts_under(&self.0).unwrap_or_default() {
            let _ = ops.unmount(&m);
        }
    }
}
