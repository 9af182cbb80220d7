use super::fake::{Call, RecordingOps};
use super::*;

fn fixture() -> (tempfile::TempDir, Arc<RecordingOps>, Sandboxes) {
    let root = tempfile::tempdir().unwrap();
    let ops = Arc::new(RecordingOps::new());
    let sandboxes = Sandboxes::with_ops(root.path(), ops.clone());
    (root, ops, sandboxes)
}

#[test]
fn create_unshares_names_and_binds_on_one_thread() {
    let (root, ops, sandboxes) = fixture();
    let sb = sandboxes.create("uid-1", "web-0").unwrap();
    let dir = root.path().join("sandboxes");
    assert_eq!(sb.net, dir.join("uid-1/net"));
    assert!(sb.uts.exists() && sb.ipc.exists());

    let calls = ops.calls();
    assert_eq!(
        calls[0],
        Call::Mount {
            source: Some(dir.clone()),
            target: dir.clone(),
            flags: MsFlags::MS_BIND | MsFlags::MS_REC
        }
    );
    assert_eq!(
        calls[1],
        Call::Mount {
            source: None,
            target: dir.clone(),
            flags: MsFlags::MS_SHARED | MsFlags::MS_REC
        }
    );
    assert_eq!(
        calls[2],
        Call::Unshare(
            CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC
        )
    );
    assert_eq!(calls[3], Call::SetHostname("web-0".into()));
    assert_eq!(calls[4], Call::LoopbackUp);
    for (i, kind) in NAMESPACES.iter().enumerate() {
        assert_eq!(
            calls[5 + i],
            Call::Mount {
                source: Some(PathBuf::from(format!("/proc/thread-self/ns/{kind}"))),
                target: dir.join("uid-1").join(kind),
                flags: MsFlags::MS_BIND
            }
        );
    }
    assert_eq!(calls.len(), 8);
}

#[test]
fn create_is_idempotent_and_dir_is_shared_once() {
    let (_root, ops, sandboxes) = fixture();
    let first = sandboxes.create("uid-1", "web-0").unwrap();
    ops.clear();
    let again = sandboxes.create("uid-1", "web-0").unwrap();
    assert_eq!(first, again);
    assert!(ops.calls().is_empty(), "reuse must not touch namespaces");

    sandboxes.create("uid-2", "web-1").unwrap();
    assert!(
        !ops.calls()
            .iter()
            .any(|c| matches!(c, Call::Mount { source: None, .. })),
        "the directory is made shared only once"
    );
}

#[test]
fn half_built_sandbox_is_rebuilt() {
    let (_root, ops, sandboxes) = fixture();
    let sb = sandboxes.create("uid-1", "web-0").unwrap();
    // Simulate a crash that left only the uts bind behind.
    ops.umount(&sb.net, MntFlags::MNT_DETACH).unwrap();
    ops.umount(&sb.ipc, MntFlags::MNT_DETACH).unwrap();
    ops.clear();
    sandboxes.create("uid-1", "web-0").unwrap();
    let calls = ops.calls();
    assert_eq!(calls[0], Call::Umount(sb.uts.clone(), MntFlags::MNT_DETACH));
    assert!(calls.contains(&Call::LoopbackUp));
    assert_eq!(ops.ns_mounts().len(), 3);
}

#[test]
fn failed_create_leaves_nothing_behind() {
    let (_root, ops, sandboxes) = fixture();
    ops.fail_on(Some("loopback_up"));
    let err = sandboxes.create("uid-1", "web-0").unwrap_err();
    assert!(err.to_string().contains("bring lo up"), "{err}");
    assert!(ops.ns_mounts().is_empty());
    assert!(!sandboxes.dir().join("uid-1").exists());
    assert!(sandboxes.list().unwrap().is_empty());
}

#[test]
fn remove_unmounts_deletes_and_is_idempotent() {
    let (_root, ops, sandboxes) = fixture();
    let sb = sandboxes.create("uid-1", "web-0").unwrap();
    assert_eq!(sandboxes.list().unwrap(), vec!["uid-1".to_string()]);
    ops.clear();
    sandboxes.remove("uid-1").unwrap();
    let umounts: Vec<_> = ops
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Umount(..)))
        .collect();
    assert_eq!(
        umounts,
        vec![
            Call::Umount(sb.net.clone(), MntFlags::MNT_DETACH),
            Call::Umount(sb.uts.clone(), MntFlags::MNT_DETACH),
            Call::Umount(sb.ipc.clone(), MntFlags::MNT_DETACH),
        ]
    );
    assert!(ops
        .calls()
        .contains(&Call::RemoveCgroup(PathBuf::from("/skiff/poduid-1"))));
    assert!(!sb.net.parent().unwrap().exists());
    assert!(sandboxes.list().unwrap().is_empty());
    sandboxes.remove("uid-1").unwrap();
    assert_eq!(sandboxes.get("uid-1").unwrap(), None);
}

#[test]
fn list_finds_sandboxes_left_by_an_earlier_run() {
    let (root, ops, _) = fixture();
    fs::create_dir_all(root.path().join("sandboxes/b-uid")).unwrap();
    fs::create_dir_all(root.path().join("sandboxes/a-uid")).unwrap();
    fs::write(root.path().join("sandboxes/stray-file"), b"").unwrap();
    let sandboxes = Sandboxes::with_ops(root.path(), ops);
    assert_eq!(sandboxes.list().unwrap(), vec!["a-uid", "b-uid"]);
}

#[test]
fn rejects_unsafe_uids_and_truncates_hostnames() {
    let (_root, ops, sandboxes) = fixture();
    for bad in ["", ".", "..", "a/b", "../x"] {
        assert!(matches!(
            sandboxes.create(bad, "h"),
            Err(SandboxError::InvalidUid(_))
        ));
    }
    assert!(matches!(
        sandboxes.create("uid", "-"),
        Err(SandboxError::InvalidHostname(_))
    ));
    let long = format!("{}-{}", "a".repeat(62), "b".repeat(10));
    sandboxes.create("uid", &long).unwrap();
    assert!(ops.calls().contains(&Call::SetHostname("a".repeat(62))));
}

/// Real namespaces; needs root. Opt in with SKIFF_TEST_PRIVILEGED=1 (or the containerd
/// socket variable the runtime tests use); required under CI=true.
#[test]
fn real_sandbox_has_hostname_and_loopback() {
    if std::env::var_os("SKIFF_TEST_CONTAINERD_SOCK").is_none()
        && crate::test_support::test_env("SKIFF_TEST_PRIVILEGED").is_none()
    {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let sandboxes = Sandboxes::new(root.path());
    let sb = sandboxes.create("real-uid", "real-pod").unwrap();
    assert!(HostOps.is_ns_mount(&sb.net));
    assert_eq!(sandboxes.create("real-uid", "real-pod").unwrap(), sb);

    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", sb.net.display()))
        .arg(format!("--uts={}", sb.uts.display()))
        .args(["sh", "-c", "hostname; ip -o link show"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("real-pod"), "{text}");
    let links: Vec<_> = lines.collect();
    assert_eq!(links.len(), 1, "only lo: {text}");
    assert!(links[0].contains("lo: <LOOPBACK,UP,LOWER_UP>"), "{text}");
    let host = nix::unistd::gethostname().unwrap();
    assert_ne!(host.to_string_lossy(), "real-pod");

    sandboxes.remove("real-uid").unwrap();
    sandboxes.unmount_dir().unwrap();
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = fs::canonicalize(root.path()).unwrap();
    assert!(!mounts.contains(dir.to_str().unwrap()), "{mounts}");
}
