//! Test images built from Debian's busybox-static: there is no internet registry, so the
//! project makes its own. One gzip'd layer (busybox, applet symlinks, passwd/group, /tmp,
//! /www/index.html) and an OCI config per variant. Bytes are deterministic and cached per
//! process, so digests are stable across a test run.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use anyhow::Context;
use flate2::{write::GzEncoder, Compression};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::BUSYBOX;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The page the httpd and nginx stand-ins serve.
pub const INDEX_HTML: &str = "hello from skiff\n";

/// Applets linked into /bin (`trap` is a shell builtin). Generous, since symlinks are free
/// and test scripts should not trip over a missing one.
const APPLETS: &[&str] = &[
    "sh", "ash", "cat", "echo", "sleep", "httpd", "wget", "hostname", "ls", "ps", "kill", "true",
    "false", "env", "id", "nc", "date", "seq", "head", "tail", "grep", "sed", "awk", "mkdir", "rm",
    "touch", "wc", "test", "[", "printf", "pidof", "ip", "ifconfig", "nslookup", "uname", "yes",
    "timeout", "stat", "cp", "mv", "ln", "pwd", "whoami", "tee", "sort", "tr", "cut", "mount",
    "netstat", "ping", "dd", "xargs", "find", "chmod", "basename", "dirname",
];

/// Which image to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageVariant {
    /// Cmd `["sh"]`.
    Busybox,
    /// Serves /www on port 80 (`httpd -f -p 80 -h /www`).
    Httpd,
    /// Same as httpd; pushed as `library/nginx:latest` for the user's manifests.
    Nginx,
    /// Exits 1 at once: the user's `nginx:1.11` in scenario 3, which must crash-loop.
    CrashLoop,
    /// Answers `Hello, <hostname>` on port 80: the user's `alicek106/rr-test:echo-hostname`.
    EchoHostname,
}

impl ImageVariant {
    /// Parses `busybox`, `httpd` or `nginx`.
    pub fn from_name(name: &str) -> anyhow::Result<Self> {
        match name {
            "busybox" => Ok(Self::Busybox),
            "httpd" => Ok(Self::Httpd),
            "nginx" => Ok(Self::Nginx),
            "crashloop" => Ok(Self::CrashLoop),
            "echo-hostname" => Ok(Self::EchoHostname),
            other => anyhow::bail!(
                "unknown test image variant {other:?} (busybox, httpd, nginx, crashloop, echo-hostname)"
            ),
        }
    }

    fn cmd(self) -> Vec<&'static str> {
        match self {
            Self::Busybox => vec!["sh"],
            Self::Httpd | Self::Nginx => vec!["httpd", "-f", "-p", "80", "-h", "/www"],
            Self::CrashLoop => vec!["sh", "-c", "echo 'nginx 1.11: bad config' >&2; exit 1"],
            Self::EchoHostname => vec![
                "sh",
                "-c",
                "echo \"Hello, $(hostname)\" > /www/index.html && exec httpd -f -p 80 -h /www",
            ],
        }
    }
}

/// A built image: every blob plus its digest (`sha256:<hex>`).
#[derive(Debug, Clone)]
pub struct TestImage {
    pub variant: ImageVariant,
    /// The gzip'd layer, as pushed and stored in OCI archives.
    pub layer: Vec<u8>,
    pub layer_digest: String,
    /// The uncompressed layer tar, as stored in docker-save archives.
    pub layer_tar: Vec<u8>,
    /// sha256 of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
}

impl TestImage {
    /// Builds (or returns the process-wide cached copy of) one variant.
    pub fn build(variant: ImageVariant) -> anyhow::Result<TestImage> {
        static CACHE: OnceLock<Mutex<HashMap<ImageVariant, TestImage>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(image) = cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&variant)
        {
            return Ok(image.clone());
        }
        let image = build_uncached(variant)?;
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(variant, image.clone());
        Ok(image)
    }

    /// The blobs a registry or archive must hold: (digest, bytes), layer first.
    pub fn blobs(&self) -> [(&str, &[u8]); 2] {
        [
            (&self.layer_digest, &self.layer),
            (&self.config_digest, &self.config),
        ]
    }
}

/// `sha256:<hex>` of some bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The platform's architecture in OCI terms.
pub fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

fn build_uncached(variant: ImageVariant) -> anyhow::Result<TestImage> {
    let (layer_tar, layer) = shared_layer()?;
    let diff_id = digest(&layer_tar);
    let layer_digest = digest(&layer);
    let config = serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": oci_arch(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": variant.cmd(),
            "WorkingDir": "/",
            "ExposedPorts": if matches!(variant, ImageVariant::Busybox | ImageVariant::CrashLoop) { json!({}) } else { json!({"80/tcp": {}}) },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "skiff-e2e from busybox-static"}],
    }))?;
    let config_digest = digest(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": layer.len()}],
    }))?;
    let manifest_digest = digest(&manifest);
    Ok(TestImage {
        variant,
        layer,
        layer_digest,
        layer_tar,
        diff_id,
        config,
        config_digest,
        manifest,
        manifest_digest,
    })
}

/// The one layer all variants share: (uncompressed tar, gzip of it), built once.
fn shared_layer() -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    static LAYER: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    if let Some(layer) = LAYER.get() {
        return Ok(layer.clone());
    }
    let tar = layer_tar()?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    std::io::Write::write_all(&mut gz, &tar)?;
    let gz = gz.finish()?;
    Ok(LAYER.get_or_init(|| (tar, gz)).clone())
}

fn layer_tar() -> anyhow::Result<Vec<u8>> {
    let busybox = std::fs::read(BUSYBOX)
        .with_context(|| format!("reading {BUSYBOX} (apt-get install busybox-static)"))?;
    let mut tar = tar::Builder::new(Vec::new());
    for (dir, mode) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("www", 0o755),
    ] {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        tar.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
    }
    let mut h = header(tar::EntryType::Regular, 0o755, busybox.len());
    tar.append_data(&mut h, "bin/busybox", &busybox[..])?;
    for applet in APPLETS {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
    }
    let files: [(&str, &str); 3] = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        (
            "etc/group",
            "root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n",
        ),
        ("www/index.html", INDEX_HTML),
    ];
    for (path, text) in files {
        let mut h = header(tar::EntryType::Regular, 0o644, text.len());
        tar.append_data(&mut h, path, text.as_bytes())?;
    }
    Ok(tar.into_inner()?)
}

/// A header with fixed owner and mtime, so the layer's digest never changes.
fn header(kind: tar::EntryType, mode: u32, size: usize) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size as u64);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_704_067_200);
    h
}
