//! Image archives dropped into `--images`: OCI image layouts and `docker save` tarballs
//! (optionally gzip-wrapped), turned into images whose blobs are in the content store.
//!
//! `docker save` archives carry no manifest, so one is made up (Docker schema2, layers as
//! they are in the archive) and stored with the blobs.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use tracing::warn;

use super::super::{Containerd, RuntimeError};
use super::archive::{clean, copy_blobs, scan, Archive};
use super::content::{self, Lease};
use super::manifest::{
    self, Descriptor, Manifest, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST,
};
use super::reference::{is_full_name, normalise};

const NAME_ANNOTATION: &str = "io.containerd.image.name";
const REF_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Stores every image in the archive at `path`; returns (name, target) pairs to record.
pub async fn import_archive(
    ctrd: &Containerd,
    lease: &Lease,
    path: &Path,
) -> Result<Vec<(String, Descriptor)>, RuntimeError> {
    let p = path.to_path_buf();
    let archive = tokio::task::spawn_blocking(move || scan(&p))
        .await
        .map_err(|e| RuntimeError::InvalidArgument(format!("scan task: {e}")))??;
    let bad = |m: String| RuntimeError::InvalidArgument(format!("{}: {m}", path.display()));

    let mut extra = Extra::default();
    let mut images = archive.oci_images().map_err(&bad)?;
    if images.is_empty() && archive.get("manifest.json").is_some() {
        images = archive.docker_images(&mut extra).map_err(&bad)?;
    }
    if images.is_empty() {
        return Err(bad(
            "no named images found (need an OCI layout with an image name \
                        annotation, or a docker save archive with RepoTags)"
                .into(),
        ));
    }

    // Everything reachable from the targets, by digest → archive path.
    let mut needed: HashMap<String, Option<String>> = HashMap::new();
    for (_, target) in &images {
        archive.collect(target, &extra, &mut needed).map_err(&bad)?;
    }
    let mut streamed = HashSet::new();
    for (digest, path) in &needed {
        let bytes = match path {
            None => extra.blobs.get(digest).map(Vec::as_slice),
            Some(p) => archive.get(p).and_then(|e| e.data.as_deref()),
        };
        let desc = Descriptor {
            digest: digest.clone(),
            size: match (bytes, path) {
                (Some(b), _) => b.len() as i64,
                (None, Some(p)) => archive.get(p).map_or(0, |e| e.size as i64),
                (None, None) => 0,
            },
            ..Default::default()
        };
        match (bytes, path) {
            (Some(b), _) => {
                content::write_bytes(ctrd, lease, &desc, b).await?;
            }
            (None, Some(p)) => {
                if content::info(ctrd, digest).await?.is_some() {
                    lease.add_content(digest).await?;
                } else {
                    streamed.insert(p.clone());
                }
            }
            (None, None) => return Err(bad(format!("blob {digest} is missing"))),
        }
    }
    if !streamed.is_empty() {
        copy_blobs(ctrd, lease, &archive, streamed).await?;
    }
    Ok(images)
}

impl Archive {
    fn blob_path(digest: &str) -> String {
        format!("blobs/{}", digest.replacen(':', "/", 1))
    }

    fn bytes(&self, digest: &str, extra: &Extra) -> Option<Vec<u8>> {
        match self.path_of(digest, extra) {
            None => extra.blobs.get(digest).cloned(),
            Some(p) => self.get(&p).and_then(|e| e.data.clone()),
        }
    }

    /// Named images of an OCI layout's `index.json`.
    fn oci_images(&self) -> Result<Vec<(String, Descriptor)>, String> {
        let Some(index) = self.get("index.json").and_then(|e| e.data.as_ref()) else {
            return Ok(Vec::new());
        };
        let index = Manifest::parse(index).map_err(|e| format!("index.json: {e}"))?;
        let mut out = Vec::new();
        for desc in index.manifests {
            let name = [NAME_ANNOTATION, REF_ANNOTATION]
                .iter()
                .filter_map(|k| desc.annotations.get(*k))
                .find(|n| is_full_name(n));
            let Some(name) = name else {
                warn!(archive = %self.path.display(), digest = %desc.digest, "skipping image without a usable name");
                continue;
            };
            let name = normalise(name).map_err(|e| e.to_string())?;
            let target = Descriptor {
                annotations: HashMap::new(),
                platform: None,
                ..desc
            };
            out.push((name, target));
        }
        Ok(out)
    }

    /// `docker save` images, with a Docker schema2 manifest made up for each.
    fn docker_images(&self, extra: &mut Extra) -> Result<Vec<(String, Descriptor)>, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Item {
            config: String,
            #[serde(default)]
            repo_tags: Option<Vec<String>>,
            layers: Vec<String>,
        }
        let raw = self.get("manifest.json").and_then(|e| e.data.as_ref());
        let items: Vec<Item> = serde_json::from_slice(raw.ok_or("manifest.json is too large")?)
            .map_err(|e| format!("manifest.json: {e}"))?;
        let mut out = Vec::new();
        for item in items {
            let entry = |p: &str| self.get(p).ok_or_else(|| format!("{p} is missing"));
            let config = entry(&item.config)?;
            let mut layers = Vec::new();
            for l in &item.layers {
                let e = entry(l)?;
                layers.push(Descriptor {
                    media_type: if e.gzip {
                        DOCKER_LAYER_GZIP
                    } else {
                        DOCKER_LAYER
                    }
                    .into(),
                    digest: e.digest.clone(),
                    size: e.size as i64,
                    ..Default::default()
                });
            }
            let m = Manifest {
                schema_version: 2,
                media_type: Some(DOCKER_MANIFEST.into()),
                config: Some(Descriptor {
                    media_type: DOCKER_CONFIG.into(),
                    digest: config.digest.clone(),
                    size: config.size as i64,
                    ..Default::default()
                }),
                layers,
                manifests: Vec::new(),
            };
            let bytes = serde_json::to_vec(&m).map_err(|e| e.to_string())?;
            let target = Descriptor {
                media_type: DOCKER_MANIFEST.into(),
                digest: manifest::sha256_digest(&bytes),
                size: bytes.len() as i64,
                ..Default::default()
            };
            extra.blobs.insert(target.digest.clone(), bytes);
            // Blobs of docker archives live at arbitrary paths; index them by digest.
            for p in std::iter::once(&item.config).chain(&item.layers) {
                extra.paths.insert(entry(p)?.digest.clone(), clean(p));
            }
            let tags = item.repo_tags.unwrap_or_default();
            if tags.is_empty() {
                warn!(archive = %self.path.display(), config = %item.config, "skipping image without RepoTags");
            }
            for tag in tags {
                out.push((normalise(&tag).map_err(|e| e.to_string())?, target.clone()));
            }
        }
        Ok(out)
    }

    /// Adds `desc` and what it references to `needed` (digest → archive path, None when
    /// the blob was made up).
    fn collect(
        &self,
        desc: &Descriptor,
        extra: &Extra,
        needed: &mut HashMap<String, Option<String>>,
    ) -> Result<(), String> {
        needed.insert(desc.digest.clone(), self.path_of(&desc.digest, extra));
        let bytes = self
            .bytes(&desc.digest, extra)
            .ok_or_else(|| format!("blob {} is missing or too large", desc.digest))?;
        let m = Manifest::parse(&bytes)?;
        if m.is_index() {
            let (_, entry) = m.select_platform()?;
            return self.collect(entry, extra, needed);
        }
        let (config, layers) = m.image_parts()?;
        for d in std::iter::once(config).chain(layers) {
            needed.insert(d.digest.clone(), self.path_of(&d.digest, extra));
        }
        Ok(())
    }

    /// Where the archive keeps blob `digest`; None for a blob made up during import.
    fn path_of(&self, digest: &str, extra: &Extra) -> Option<String> {
        if let Some(p) = extra.paths.get(digest) {
            return Some(p.clone());
        }
        if extra.blobs.contains_key(digest) {
            return None;
        }
        Some(Self::blob_path(digest))
    }
}

/// What a docker archive adds to its files: made-up manifests, and where blobs live.
#[derive(Default)]
struct Extra {
    blobs: HashMap<String, Vec<u8>>,
    paths: HashMap<String, String>,
}
