//! Image archives for `--images` and `ctr images import`: the OCI image layout and the
//! `docker save` format, both as plain tar files.

use std::path::Path;

use serde_json::json;

use crate::images::{TestImage, MANIFEST_MEDIA_TYPE};

impl TestImage {
    /// Writes an OCI image layout tar (`oci-layout`, `index.json`, `blobs/sha256/...`).
    /// The index carries `io.containerd.image.name` (the full reference) and
    /// `org.opencontainers.image.ref.name` (the tag), as `ctr images export` writes them.
    pub fn write_oci_archive(&self, path: &Path, name: &str) -> anyhow::Result<()> {
        let full = normalize_reference(name);
        let tag = full.rsplit_once(':').map_or("latest", |(_, t)| t);
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": MANIFEST_MEDIA_TYPE,
                "digest": self.manifest_digest,
                "size": self.manifest.len(),
                "annotations": {
                    "io.containerd.image.name": full,
                    "org.opencontainers.image.ref.name": tag,
                },
            }],
        });
        let mut files: Vec<(String, Vec<u8>)> = vec![
            (
                "oci-layout".into(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            ("index.json".into(), serde_json::to_vec(&index)?),
        ];
        let blobs = [
            (&self.manifest_digest, &self.manifest),
            (&self.config_digest, &self.config),
            (&self.layer_digest, &self.layer),
        ];
        for (digest, bytes) in blobs {
            files.push((format!("blobs/sha256/{}", hex_of(digest)), bytes.clone()));
        }
        write_tar(path, &["blobs/", "blobs/sha256/"], &files)
    }

    /// Writes a `docker save` tar: `manifest.json` (Config, RepoTags, Layers), the config,
    /// and the layer uncompressed as `<diff-id>/layer.tar`.
    pub fn write_docker_archive(&self, path: &Path, name: &str) -> anyhow::Result<()> {
        let config_file = format!("{}.json", hex_of(&self.config_digest));
        let layer_dir = hex_of(&self.diff_id).to_string();
        let layer_file = format!("{layer_dir}/layer.tar");
        let repo_tag = if name.contains(':') {
            name.to_string()
        } else {
            format!("{name}:latest")
        };
        let (repo, tag) = repo_tag.rsplit_once(':').unwrap_or((name, "latest"));
        let manifest =
            json!([{ "Config": config_file, "RepoTags": [repo_tag], "Layers": [layer_file] }]);
        let repositories = json!({ repo: { tag: layer_dir } });
        let files: Vec<(String, Vec<u8>)> = vec![
            (config_file.clone(), self.config.clone()),
            (format!("{layer_dir}/VERSION"), b"1.0".to_vec()),
            (layer_file, self.layer_tar.clone()),
            ("manifest.json".into(), serde_json::to_vec(&manifest)?),
            ("repositories".into(), serde_json::to_vec(&repositories)?),
        ];
        write_tar(path, &[&format!("{layer_dir}/")], &files)
    }
}

/// Docker's normalization: `nginx` → `docker.io/library/nginx:latest`,
/// `me/app:1` → `docker.io/me/app:1`; references naming a registry host are kept.
pub fn normalize_reference(name: &str) -> String {
    let (first, _) = name.split_once('/').unwrap_or(("", name));
    let has_host = first.contains('.') || first.contains(':') || first == "localhost";
    let mut full = if has_host {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !last.contains('@') {
        full.push_str(":latest");
    }
    full
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn write_tar(path: &Path, dirs: &[&str], files: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    let mut tar = tar::Builder::new(std::fs::File::create(path)?);
    for dir in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_704_067_200);
        tar.append_data(&mut h, dir, std::io::empty())?;
    }
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        h.set_mtime(1_704_067_200);
        tar.append_data(&mut h, name, &bytes[..])?;
    }
    tar.into_inner()?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normalize_reference as n;

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(n("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(n("nginx:1.11"), "docker.io/library/nginx:1.11");
        assert_eq!(
            n("alicek106/rr-test:echo-hostname"),
            "docker.io/alicek106/rr-test:echo-hostname"
        );
        assert_eq!(n("k8s.gcr.io/busybox"), "k8s.gcr.io/busybox:latest");
        assert_eq!(n("127.0.0.1:5000/x/y:2"), "127.0.0.1:5000/x/y:2");
    }
}
