//! Against a real containerd (and registry): set `SKIFF_TEST_CONTAINERD_SOCK`, and
//! `SKIFF_TEST_REGISTRY=127.0.0.1:PORT` for a `docker-registry` to push the test image to.
//! deploy/with-test-runtime.sh provides both; under CI=true the tests fail without them.

use std::io::Write as _;
use std::path::Path;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageIndex;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::content::{self, Lease};
use super::manifest::{host_arch, sha256_digest, Descriptor};
use super::unpack::{self, snapshot_exists};
use super::*;
use crate::test_support::test_env;

fn layer_tar(files: &[(&str, &[u8], u32)], links: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, path, *data).unwrap();
    }
    for (path, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, path, target).unwrap();
    }
    b.into_inner().unwrap()
}

/// A two-layer image: a busybox base layer shared by all test images, and a top layer
/// made distinct by `marker` (and `pad` bytes of filler): (layers, config json).
fn busybox_image(marker: &str, pad: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static installed");
    let base = layer_tar(
        &[("bin/busybox", &busybox, 0o755)],
        &[("bin/sh", "busybox")],
    );
    let filler = vec![7u8; pad];
    let top = layer_tar(
        &[
            ("etc/skiff-marker", marker.as_bytes(), 0o644),
            ("etc/pad", &filler, 0o644),
        ],
        &[],
    );
    let config = serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&base), sha256_digest(&top)]},
    });
    (vec![base, top], serde_json::to_vec(&config).unwrap())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tar_of(files: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    let files: Vec<(&str, &[u8], u32)> = files.iter().map(|(p, d)| (*p, *d, 0o644)).collect();
    layer_tar(&files, links)
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// An OCI layout holding one image under `annotations` on its index entry.
fn oci_layout(marker: &str, annotations: serde_json::Value) -> Vec<u8> {
    let (layers, config) = busybox_image(marker, 0);
    let layers: Vec<Vec<u8>> = layers.iter().map(|l| gzip(l)).collect();
    let layer_descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                               "digest": sha256_digest(l), "size": l.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256_digest(&config), "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": manifest::OCI_MANIFEST, "digest": sha256_digest(&manifest),
                       "size": manifest.len(), "annotations": annotations}],
    }))
    .unwrap();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".into(), index),
        (blob_path(&sha256_digest(&manifest)), manifest),
        (blob_path(&sha256_digest(&config)), config),
    ];
    files.extend(
        layers
            .into_iter()
            .map(|l| (blob_path(&sha256_digest(&l)), l)),
    );
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    tar_of(&refs, &[])
}

/// A `docker save` archive whose big top layer is reached through a symlink, as docker
/// does for layers shared between images.
fn docker_save(marker: &str, tag: &str) -> Vec<u8> {
    let (layers, config) = busybox_image(marker, 6 << 20);
    let config_name = format!(
        "{}.json",
        sha256_digest(&config).trim_start_matches("sha256:")
    );
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": config_name, "RepoTags": [tag], "Layers": ["base/layer.tar", "link/layer.tar"]}
    ]))
    .unwrap();
    tar_of(
        &[
            ("manifest.json", &manifest),
            (&config_name, &config),
            ("base/layer.tar", &layers[0]),
            ("top/layer.tar", &layers[1]),
        ],
        &[("link/layer.tar", "../top/layer.tar")],
    )
}

async fn push_test_images(registry: &str) -> String {
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let auth = RegistryAuth::Anonymous;
    let (layers, config) = busybox_image("pulled", 0);
    let layers: Vec<ImageLayer> = layers
        .iter()
        .map(|l| ImageLayer::oci_v1_gzip(gzip(l), None))
        .collect();
    let one: Reference = format!("{registry}/library/skiffbox:1").parse().unwrap();
    client
        .push(&one, &layers, Config::oci_v1(config, None), &auth, None)
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
    let Some(sock) = test_env("SKIFF_TEST_CONTAINERD_SOCK") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter("skiff_agent=debug")
        .with_test_writer()
        .try_init();
    let ns = format!("skiff-image-test-{}", std::process::id());
    let ctrd = Containerd::connect_lazy(Path::new(&sock), &ns).unwrap();

    if let Some(registry) = test_env("SKIFF_TEST_REGISTRY") {
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
        let chains = unpack::chain_ids(info.config.rootfs().diff_ids());
        assert_eq!(chains.len(), 2);
        assert_eq!(info.chain_id, chains[1]);
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

    // A lost top snapshot is recreated from the stored layers.
    let info = svc.get("skiff.test/docker:1").await.unwrap().unwrap();
    let remove = containerd_client::services::v1::snapshots::RemoveSnapshotRequest {
        snapshotter: super::super::client::SNAPSHOTTER.into(),
        key: info.chain_id.clone(),
    };
    ctrd.snapshots().remove(ctrd.request(remove)).await.unwrap();
    assert!(!snapshot_exists(&ctrd, &info.chain_id).await.unwrap());
    let again = svc.get("skiff.test/docker:1").await.unwrap().unwrap();
    assert_eq!(again.chain_id, info.chain_id);
    assert!(snapshot_exists(&ctrd, &info.chain_id).await.unwrap());
    assert!(svc.get("skiff.test/absent:1").await.unwrap().is_none());
    println!("namespace {ns} left in place for inspection");
}

#[tokio::test]
async fn concurrent_writers_of_one_blob_share_it() {
    let Some(sock) = test_env("SKIFF_TEST_CONTAINERD_SOCK") else {
        return;
    };
    let ns = format!("skiff-image-test-{}-w", std::process::id());
    let ctrd = Containerd::connect_lazy(Path::new(&sock), &ns).unwrap();
    let data = format!("blob written twice {ns}")
        .repeat(100_000)
        .into_bytes();
    let desc = Descriptor {
        digest: sha256_digest(&data),
        size: data.len() as i64,
        ..Default::default()
    };
    let lease = Lease::create(&ctrd, "test").await.unwrap();

    // The first writer stalls after one chunk while holding the ingest ref.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let (c, l, d) = (ctrd.clone(), lease.clone(), desc.clone());
    let first = tokio::spawn(async move {
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        content::write(&c, &l, &d, stream).await
    });
    let (head, tail) = data.split_at(1 << 20);
    tx.send(Ok(head.to_vec())).await.unwrap();
    tx.send(Ok(tail[..1 << 20].to_vec())).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let second = tokio::spawn({
        let (c, l, d, data) = (ctrd.clone(), lease.clone(), desc.clone(), data.clone());
        async move { content::write_bytes(&c, &l, &d, &data).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(
        !second.is_finished(),
        "second writer should wait for the first"
    );
    tx.send(Ok(tail[1 << 20..].to_vec())).await.unwrap();
    drop(tx);

    assert_eq!(
        first.await.unwrap().unwrap(),
        content::Written::New(data.len() as u64)
    );
    assert_eq!(second.await.unwrap().unwrap(), content::Written::Existing);
    assert_eq!(content::read_all(&ctrd, &desc.digest).await.unwrap(), data);
    lease.delete().await;
}
