//! Gates for tests that need the real system (containerd, a registry, root).
//!
//! On a developer machine a missing prerequisite skips the test with a "skipped: ..."
//! line. Under `CI=true` it fails the test instead: CI must never pass by silently
//! skipping. `deploy/with-test-runtime.sh` provides everything these tests need.

/// The value of `var`, or `None` (after saying why) when it is unset and the caller
/// should return without testing anything. Panics instead under `CI=true`.
#[track_caller]
pub(crate) fn test_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) => Some(value),
        Err(_) => {
            skip(&format!("{var} is not set"));
            None
        }
    }
}

/// Reports a test as skipped for `reason`; under `CI=true` panics instead.
#[track_caller]
pub(crate) fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!(
            "{reason}, and CI=true does not allow skipping: run the tests through \
             deploy/with-test-runtime.sh (as root)"
        );
    }
    eprintln!("skipped: {reason}; deploy/with-test-runtime.sh provides it");
}

/// Commits a snapshot `name` holding the host's /bin/busybox with `applets` linked in
/// /bin and `files` written, so real-containerd tests need no image import.
pub(crate) async fn busybox_snapshot(
    c: &crate::containerd::Containerd,
    name: &str,
    applets: &[&str],
    files: &[(&str, &str)],
) -> anyhow::Result<()> {
    use std::collections::HashMap;
    use std::path::Path;

    use anyhow::{ensure, Context};
    use containerd_client::services::v1::snapshots::{
        CommitSnapshotRequest, MountsRequest, PrepareSnapshotRequest,
    };

    use crate::containerd::client::SNAPSHOTTER;

    let key = format!("{name}-build");
    // A gc root label, or a garbage collection run by another test takes it mid-build.
    let root = HashMap::from([("containerd.io/gc.root".to_string(), "test".to_string())]);
    let prepare = PrepareSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: key.clone(),
        parent: String::new(),
        labels: root.clone(),
    };
    c.snapshots().prepare(c.request(prepare)).await?;
    let mounts = c
        .snapshots()
        .mounts(c.request(MountsRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: key.clone(),
        }))
        .await?
        .into_inner()
        .mounts;
    ensure!(
        mounts.len() == 1 && mounts[0].r#type == "bind",
        "{mounts:?}"
    );
    let fs = Path::new(&mounts[0].source);
    for dir in ["bin", "tmp", "dev"] {
        std::fs::create_dir_all(fs.join(dir))?;
    }
    std::fs::copy("/bin/busybox", fs.join("bin/busybox")).context("copy busybox")?;
    for applet in applets {
        std::os::unix::fs::symlink("busybox", fs.join("bin").join(applet))?;
    }
    for (path, content) in files {
        let path = fs.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, content)?;
    }
    let commit = CommitSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        name: name.into(),
        key,
        // Image snapshots are kept by the image's references; this one by a root label.
        labels: root,
    };
    c.snapshots().commit(c.request(commit)).await?;
    Ok(())
}
