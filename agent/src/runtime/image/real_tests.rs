//! Against a real containerd (and registry): set `SKIFF_TEST_CONTAINERD_SOCK`, and
//! `SKIFF_TEST_REGISTRY=127.0.0.1:PORT` for a `docker-registry` to push the test image to.
//! The e2e crate covers this path under CI; this is the quick loop for this module.

use std::io::Write as _;
use std::path::Path;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageIndex;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::manifest::{host_arch, sha256_digest};
use super::unpack::snapshot_exists;
use super::*;

/// A one-layer busybox image, made distinct by `marker`: (layer tar, config json).
fn busybox_image(marker: &str) -> (Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static installed");
    let mut add = |path: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    add("bin/busybox", &busybox, 0o755);
    add("etc/skiff-marker", marker.as_bytes(), 0o644);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "bin/sh", "busybox").unwrap();
    let layer = b.into_inner().unwrap();
    let config = serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer)]},
    });
    (layer, serde_json::to_vec(&config).unwrap())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// An OCI layout holding one image under `annotations` on its index entry.
fn oci_layout(marker: &str, annotations: serde_json::Value) -> Vec<u8> {
    let (layer, config) = busybox_image(marker);
    let layer = gzip(&layer);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256_digest(&layer), "size": layer.len()}],
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": manifest::OCI_MANIFEST, "digest": sha256_digest(&manifest),
                       "size": manifest.len(), "annotations": annotations}],
    }))
    .unwrap();
    let (mp, cp, lp) = (
        blob_path(&sha256_digest(&manifest)),
        blob_path(&sha256_digest(&config)),
        blob_path(&sha256_digest(&layer)),
    );
    tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        ("index.json", &index),
        (&mp, &manifest),
        (&cp, &config),
        (&lp, &layer),
    ])
}

fn docker_save(marker: &str, tag: &str) -> Vec<u8> {
    let (layer, config) = busybox_image(marker);
    let config_name = format!(
        "{}.json",
        sha256_digest(&config).trim_start_matches("sha256:")
    );
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": config_name, "RepoTags": [tag], "Layers": ["abc123/layer.tar"]}
    ]))
    .unwrap();
    tar_of(&[
        ("manifest.json", &manifest),
        (&config_name, &config),
        ("abc123/layer.tar", &layer),
    ])
}

async fn push_test_images(registry: &str) -> String {
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let auth = RegistryAuth::Anonymous;
    let (layer, config) = busybox_image("pulled");
    let one: Reference = format!("{registry}/library/skiffbox:1").parse().unwrap();
    client
        .push(
            &one,
            &[ImageLayer::oci_v1_gzip(gzip(&layer), None)],
            Config::oci_v1(config, None),
            &auth,
            None,
        )
        .await
        .expect("push test image");
    let digest = client.fetch_manifest_digest(&one, &auth).await.unwrap();
    let (bytes, _) = client
        .pull_manifest_raw(&one, &auth, manifest::ACCEPTED)
        .await
        .unwrap();
    let entry = |arch: &str| {
        serde_json::json!({"mediaType": manifest::OCI_MANIFEST, "digest": digest,
            "size": bytes.len(), "platform": {"os": "linux", "architecture": arch}})
    };
    let index: OciImageIndex = serde_json::from_value(serde_json::json!({
        "schemaVersion": 2, "mediaType": manifest::OCI_INDEX,
        "manifests": [entry("s390x"), entry(host_arch())],
    }))
    .unwrap();
    let multi: Reference = format!("{registry}/library/skiffbox:multi")
        .parse()
        .unwrap();
    client
        .push_manifest_list(&multi, &auth, index)
        .await
        .unwrap();
    digest
}

#[tokio::test]
async fn pull_import_unpack_against_real_containerd() {
    let Ok(sock) = std::env::var("SKIFF_TEST_CONTAINERD_SOCK") else {
        println!("skipping: SKIFF_TEST_CONTAINERD_SOCK is not set");
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter("skiff_agent=debug")
        .with_test_writer()
        .try_init();
    let ns = format!("skiff-image-test-{}", std::process::id());
    let ctrd = Containerd::connect_lazy(Path::new(&sock), &ns).unwrap();

    if let Ok(registry) = std::env::var("SKIFF_TEST_REGISTRY") {
        let digest = push_test_images(&registry).await;
        // A dead mirror first: it must be skipped quickly, not hang the pull.
        let yaml = format!(
            "mirrors: {{docker.io: {{endpoint: [\"http://127.0.0.1:1\", \"http://{registry}\"]}}}}"
        );
        let svc = ImageService::new(ctrd.clone(), Registries::from_yaml(&yaml).unwrap());

        let pulls = (0..3).map(|_| svc.ensure("skiffbox:1", PullPolicy::IfNotPresent));
        let infos = futures::future::try_join_all(pulls).await.expect("pull");
        let info = &infos[0];
        assert_eq!(info.name, "docker.io/library/skiffbox:1");
        assert_eq!(info.digest, digest);
        assert_eq!(&info.chain_id, &info.config.rootfs().diff_ids()[0]);
        assert!(snapshot_exists(&ctrd, &info.chain_id).await.unwrap());

        let started = std::time::Instant::now();
        let again = svc
            .ensure("docker.io/library/skiffbox:1", PullPolicy::IfNotPresent)
            .await;
        assert_eq!(again.unwrap().digest, digest);
        println!("second ensure took {:?}", started.elapsed());

        let multi = svc
            .ensure(
                &format!("{registry}/library/skiffbox:multi"),
                PullPolicy::Always,
            )
            .await
            .expect("pull index");
        assert_ne!(multi.digest, digest);
        assert_eq!(multi.chain_id, info.chain_id);

        let err = svc
            .ensure("nope", PullPolicy::IfNotPresent)
            .await
            .unwrap_err();
        let want = format!("manifest unknown from http://{registry}");
        assert!(err.to_string().contains(&want), "{err}");
        println!("missing image error: {err}");
    } else {
        println!("skipping pull checks: SKIFF_TEST_REGISTRY is not set");
    }

    let svc = ImageService::new(ctrd.clone(), Registries::default());
    let err = svc.ensure("absent:1", PullPolicy::Never).await.unwrap_err();
    match &err {
        RuntimeError::Image { message, .. } => {
            assert!(message.starts_with("image not present with pull policy Never"))
        }
        other => panic!("{other:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    let named = serde_json::json!({"io.containerd.image.name": "skiff.test/oci:1",
                                   "org.opencontainers.image.ref.name": "1"});
    std::fs::write(dir.path().join("oci.tar"), oci_layout("oci", named)).unwrap();
    let by_ref = serde_json::json!({"org.opencontainers.image.ref.name": "skiff.test/ref:2"});
    std::fs::write(dir.path().join("ref.tgz"), gzip(&oci_layout("ref", by_ref))).unwrap();
    let docker = docker_save("docker", "skiff.test/docker:1");
    std::fs::write(dir.path().join("docker.tar.gz"), gzip(&docker)).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();

    let mut names = svc.import_dir(dir.path()).await.expect("import");
    names.sort();
    assert_eq!(
        names,
        [
            "skiff.test/docker:1",
            "skiff.test/oci:1",
            "skiff.test/ref:2"
        ]
    );
    assert!(svc.import_dir(dir.path()).await.unwrap().is_empty());
    for name in &names {
        let info = svc.get(name).await.unwrap().expect("imported image");
        assert!(snapshot_exists(&ctrd, &info.chain_id).await.unwrap());
        let again = svc.ensure(name, PullPolicy::Never).await.unwrap();
        assert_eq!(again.chain_id, info.chain_id);
    }
    println!("namespace {ns} left in place for inspection");
}
