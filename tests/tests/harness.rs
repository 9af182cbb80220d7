//! Self-tests of the e2e harness, independent of the agent: private containerd start/stop/
//! restart and cleanup, the local registry, test images (push, pull, run, archive import).
//! Each test owns its containerd/registry, so these may run in parallel.

use std::path::PathBuf;
use std::time::Duration;

use skiff_e2e::archive::normalize_reference;
use skiff_e2e::process::{mounts_under, pid_alive, pids_with_arg};
use skiff_e2e::{
    require_root_and_tools, unique, wait_for, ImageVariant, TestContainerd, TestImage, TestRegistry,
};

#[test]
fn wait_for_reports_last_observation() {
    let mut n = 0;
    let err = wait_for(
        "n to reach 100",
        Duration::from_millis(50),
        Duration::from_millis(5),
        || {
            n += 1;
            anyhow::ensure!(n >= 100, "n is {n}");
            Ok(n)
        },
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("n to reach 100") && msg.contains("last observation: n is"),
        "{msg}"
    );
}

#[test]
fn images_are_deterministic_and_complete() {
    if !require_root_and_tools() {
        return;
    }
    let a = TestImage::build(ImageVariant::Busybox).unwrap();
    let b = TestImage::build(ImageVariant::Busybox).unwrap();
    let h = TestImage::build(ImageVariant::Httpd).unwrap();
    assert_eq!(a.manifest_digest, b.manifest_digest);
    assert_eq!(a.layer_digest, h.layer_digest, "variants share the layer");
    assert_ne!(a.config_digest, h.config_digest);
    let mut tar = tar::Archive::new(&a.layer_tar[..]);
    let names: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "bin/busybox",
        "bin/sh",
        "bin/wget",
        "bin/httpd",
        "bin/nc",
        "etc/passwd",
        "etc/group",
        "tmp/",
        "www/index.html",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from layer: {names:?}"
        );
    }
    let config: serde_json::Value = serde_json::from_slice(&h.config).unwrap();
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["httpd", "-f", "-p", "80", "-h", "/www"])
    );
    assert_eq!(config["rootfs"]["diff_ids"][0], h.diff_id.as_str());
}

#[test]
fn containerd_starts_and_cleans_up() {
    if !require_root_and_tools() {
        return;
    }
    let ctrd = TestContainerd::start().unwrap();
    let out = ctrd.ctr(&["version"]).unwrap();
    assert!(out.contains("Server:"), "{out}");
    let pid = ctrd.pid().unwrap();
    let dir = ctrd.socket().parent().unwrap().to_path_buf();
    drop(ctrd);
    assert!(!pid_alive(pid), "containerd {pid} still running after drop");
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(mounts_under(&dir).is_empty());
}

#[test]
fn pushed_image_pulls_and_runs_with_ctr() {
    if !require_root_and_tools() {
        return;
    }
    let ctrd = TestContainerd::start().unwrap();
    let registry = TestRegistry::start().unwrap();
    let image = TestImage::build(ImageVariant::Busybox).unwrap();
    registry.push(&image, "library/busybox", "latest").unwrap();
    let got = registry.get_manifest("library/busybox", "latest").unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("docker-content-digest"),
        Some(image.manifest_digest.as_str())
    );

    let reference = format!("{}/library/busybox:latest", registry.addr());
    ctrd.ctr(&["images", "pull", "--plain-http", &reference])
        .unwrap();
    let out = ctrd
        .ctr(&[
            "run",
            "--rm",
            &reference,
            &unique("echo"),
            "sh",
            "-c",
            "echo hello from $(id -un)",
        ])
        .unwrap();
    assert_eq!(out.trim(), "hello from root");
}

#[test]
fn httpd_image_serves_its_page() {
    if !require_root_and_tools() {
        return;
    }
    let ctrd = TestContainerd::start().unwrap();
    let registry = TestRegistry::start().unwrap();
    registry
        .push(
            &TestImage::build(ImageVariant::Nginx).unwrap(),
            "library/nginx",
            "latest",
        )
        .unwrap();
    let reference = format!("{}/library/nginx:latest", registry.addr());
    ctrd.ctr(&["images", "pull", "--plain-http", &reference])
        .unwrap();
    // Its own (empty) netns: bring lo up, start the image's httpd, fetch the page over lo.
    let script = "ip link set lo up && (httpd -f -p 80 -h /www &) && sleep 0.5 && wget -qO- http://127.0.0.1/";
    let out = ctrd
        .ctr(&[
            "run",
            "--rm",
            "--privileged",
            &reference,
            &unique("web"),
            "sh",
            "-c",
            script,
        ])
        .unwrap();
    assert_eq!(out.trim(), "hello from skiff");
}

#[test]
fn archives_import_with_ctr() {
    if !require_root_and_tools() {
        return;
    }
    let ctrd = TestContainerd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(ImageVariant::Busybox).unwrap();
    let archives: [(PathBuf, &str); 2] = [
        (dir.path().join("oci.tar"), "skiff-test/oci:v1"),
        (dir.path().join("docker.tar"), "skiff-test/docker:v1"),
    ];
    image
        .write_oci_archive(&archives[0].0, archives[0].1)
        .unwrap();
    image
        .write_docker_archive(&archives[1].0, archives[1].1)
        .unwrap();
    for (path, name) in &archives {
        ctrd.ctr(&["images", "import", &path.to_string_lossy()])
            .unwrap();
        let full = normalize_reference(name);
        assert!(
            ctrd.images().unwrap().contains(&full),
            "{full} not in {:?}",
            ctrd.images()
        );
        let out = ctrd
            .ctr(&["run", "--rm", &full, &unique("arc"), "echo", "imported"])
            .unwrap();
        assert_eq!(out.trim(), "imported");
    }
}

#[test]
fn containerd_restart_keeps_tasks_and_drop_kills_them() {
    if !require_root_and_tools() {
        return;
    }
    let mut ctrd = TestContainerd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    TestImage::build(ImageVariant::Busybox)
        .unwrap()
        .write_oci_archive(&archive, "busybox")
        .unwrap();
    ctrd.ctr(&["images", "import", &archive.to_string_lossy()])
        .unwrap();
    let id = unique("sleeper");
    let label = format!("io.skiff.pod.name={id}");
    ctrd.ctr(&[
        "run",
        "-d",
        "--label",
        &label,
        "docker.io/library/busybox:latest",
        &id,
        "sleep",
        "1000",
    ])
    .unwrap();
    assert_eq!(
        ctrd.containers_with_label("io.skiff.pod.name", &id)
            .unwrap(),
        vec![id.clone()]
    );
    let before = ctrd.task(&id).unwrap().expect("task running");
    assert_eq!(before.status, "RUNNING");

    ctrd.stop();
    assert!(pid_alive(before.pid), "task must outlive containerd");
    ctrd.restart().unwrap();
    let after = wait_for(
        "task listed again",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            ctrd.task(&id)?
                .ok_or_else(|| anyhow::anyhow!("no task {id}"))
        },
    )
    .unwrap();
    assert_eq!((after.pid, after.status.as_str()), (before.pid, "RUNNING"));

    // Drop while stopped: the harness restarts it to clean up, then kills the task.
    ctrd.stop();
    let state = ctrd.state();
    let socket = ctrd.socket().to_string_lossy().into_owned();
    drop(ctrd);
    assert_eq!(
        pids_with_arg(&socket),
        Vec::<u32>::new(),
        "processes still bound to {socket}"
    );
    assert!(
        !pid_alive(before.pid),
        "container {} survived the harness",
        before.pid
    );
    assert!(mounts_under(&state).is_empty());
}

#[test]
fn wait_for_gives_up_on_fatal() {
    let start = std::time::Instant::now();
    let err = wait_for(
        "never",
        Duration::from_secs(30),
        Duration::from_millis(5),
        || -> anyhow::Result<()> { Err(skiff_e2e::fatal("process exited")) },
    )
    .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(format!("{err:#}").contains("process exited"));
}

/// The HA tests' etcd: three members in namespaces of their own, one lost keeps the
/// quorum, two lost break it, and a relaunched member rejoins on its data.
#[test]
fn etcd_members_in_namespaces() {
    if !require_root_and_tools() || !skiff_e2e::etcd::require_etcd() {
        return;
    }
    let _serial = skiff_e2e::serial();
    let net =
        skiff_e2e::multinode::TestNet::create(3, skiff_e2e::multinode::Layout::OneSubnet).unwrap();
    let mut etcd = skiff_e2e::etcd::EtcdCluster::start(skiff_e2e::ha::etcd_nets(&net, 3)).unwrap();
    let pids: Vec<u32> = (0..3).map(|i| etcd.pid(i).unwrap()).collect();
    assert!(pids.iter().all(|p| pid_alive(*p)));
    etcd.kill(0);
    assert!(!pid_alive(pids[0]), "member 1 killed by its pid");
    etcd.wait_healthy(1, Duration::from_secs(20)).unwrap();
    etcd.kill(1);
    wait_for(
        "no quorum",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            anyhow::ensure!(!etcd.is_healthy(2), "member 3 still healthy alone");
            Ok(())
        },
    )
    .unwrap();
    etcd.relaunch(0).unwrap();
    etcd.relaunch(1).unwrap();
    for i in 0..3 {
        etcd.wait_healthy(i, Duration::from_secs(60)).unwrap();
    }
    let pids: Vec<u32> = (0..3).map(|i| etcd.pid(i).unwrap()).collect();
    let endpoints = etcd.endpoints();
    drop(etcd);
    assert!(
        pids.iter().all(|p| !pid_alive(*p)),
        "{endpoints}: members left running"
    );
}
