//! Image archives dropped into `--images`: OCI image layouts and `docker save` tarballs,
//! optionally gzip-wrapped, copied into containerd's content store.
//!
//! The archive is read twice at most: once to hash every file and keep the small ones
//! (manifests, configs), and again only if large blobs are missing from containerd.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::warn;

use super::super::{Containerd, RuntimeError};
use super::content::{self, Lease};
use super::manifest::{
    self, Descriptor, Manifest, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST,
};
use super::reference::{is_full_name, normalise};

/// Files up to this size are kept in memory during the first pass.
const SMALL: u64 = 4 << 20;
const CHUNK: usize = 1 << 20;
const NAME_ANNOTATION: &str = "io.containerd.image.name";
const REF_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// True for file names the images directory treats as archives.
pub fn is_archive(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    [".tar", ".tar.gz", ".tgz"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// One regular file of the archive.
struct Entry {
    digest: String,
    size: u64,
    gzip: bool,
    data: Option<Vec<u8>>,
}

struct Archive {
    path: PathBuf,
    entries: HashMap<String, Entry>,
    links: HashMap<String, String>,
}

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
    let mut large = HashSet::new();
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
                    large.insert(p.clone());
                }
            }
            (None, None) => return Err(bad(format!("blob {digest} is missing"))),
        }
    }
    if !large.is_empty() {
        copy_large(ctrd, lease, &archive, large).await?;
    }
    Ok(images)
}

impl Archive {
    fn get(&self, path: &str) -> Option<&Entry> {
        let mut p = clean(path);
        for _ in 0..8 {
            if let Some(e) = self.entries.get(&p) {
                return Some(e);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }

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

fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Opens the archive, looking through a gzip wrapper if there is one.
fn open(path: &Path) -> Result<tar::Archive<Box<dyn Read>>, RuntimeError> {
    let io = |e| RuntimeError::io(format!("open {}", path.display()), e);
    let mut magic = [0u8; 2];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(io)?;
    let file = BufReader::new(File::open(path).map_err(io)?);
    let reader: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(tar::Archive::new(reader))
}

/// First pass: digest and size of every file, contents of the small ones.
fn scan(path: &Path) -> Result<Archive, RuntimeError> {
    let io = |e| RuntimeError::io(format!("read {}", path.display()), e);
    let mut ar = open(path)?;
    let mut entries = HashMap::new();
    let mut links = HashMap::new();
    for entry in ar.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let name = clean(&entry.path().map_err(io)?.to_string_lossy());
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Some(target) = entry.link_name().map_err(io)? {
                let target = target.to_string_lossy().into_owned();
                let resolved = if kind.is_symlink() {
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    clean(&format!("{dir}/{target}"))
                } else {
                    clean(&target)
                };
                links.insert(name, resolved);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.size();
        let mut hasher = Sha256::new();
        let mut data = (size <= SMALL).then(Vec::new);
        let mut buf = vec![0u8; CHUNK];
        let mut first = [0u8; 2];
        let mut total = 0usize;
        loop {
            let n = entry.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n]
                .iter()
                .enumerate()
                .take(2usize.saturating_sub(total))
            {
                first[total + i] = *b;
            }
            total += n;
            hasher.update(&buf[..n]);
            if let Some(d) = data.as_mut() {
                d.extend_from_slice(&buf[..n]);
            }
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        let gzip = first == [0x1f, 0x8b];
        entries.insert(
            name,
            Entry {
                digest,
                size,
                gzip,
                data,
            },
        );
    }
    Ok(Archive {
        path: path.to_path_buf(),
        entries,
        links,
    })
}

/// Second pass: streams the large blobs containerd lacks, straight from the archive.
async fn copy_large(
    ctrd: &Containerd,
    lease: &Lease,
    archive: &Archive,
    mut wanted: HashSet<String>,
) -> Result<(), RuntimeError> {
    // Resolve links so the second pass can match on the stored file's own path.
    wanted = wanted
        .into_iter()
        .map(|p| {
            let mut p = clean(&p);
            while let Some(next) = archive.links.get(&p) {
                p = next.clone();
            }
            p
        })
        .collect();
    let descs: HashMap<String, Descriptor> = wanted
        .iter()
        .filter_map(|p| {
            let e = archive.entries.get(p)?;
            let d = Descriptor {
                digest: e.digest.clone(),
                size: e.size as i64,
                ..Default::default()
            };
            Some((p.clone(), d))
        })
        .collect();
    let (ctrd, lease, path) = (ctrd.clone(), lease.clone(), archive.path.clone());
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let io = |e| RuntimeError::io(format!("read {}", path.display()), e);
        let mut ar = open(&path)?;
        for entry in ar.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            let name = clean(&entry.path().map_err(io)?.to_string_lossy());
            let Some(desc) = descs.get(&name) else {
                continue;
            };
            let (tx, rx) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
            let (c, l, d) = (ctrd.clone(), lease.clone(), desc.clone());
            let task = handle
                .spawn(async move { content::write(&c, &l, &d, ReceiverStream::new(rx)).await });
            loop {
                let mut buf = vec![0u8; CHUNK];
                match entry.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.blocking_send(Ok(buf)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
            drop(tx);
            handle
                .block_on(task)
                .map_err(|e| RuntimeError::InvalidArgument(format!("write task: {e}")))??;
        }
        Ok(())
    })
    .await
    .map_err(|e| RuntimeError::InvalidArgument(format!("copy task: {e}")))?
}
