//! Reading image archives: tar files, optionally inside gzip, with symlinks resolved.
//!
//! The first pass hashes every file and keeps the JSON ones (index, manifests, configs); a
//! second pass streams only the blobs containerd lacks, so no layer is held in memory.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::super::{Containerd, RuntimeError};
use super::content::{self, Lease};
use super::manifest::Descriptor;

/// JSON files up to this size are kept in memory during the first pass.
const SMALL: u64 = 4 << 20;
const CHUNK: usize = 1 << 20;

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
pub struct Entry {
    pub digest: String,
    pub size: u64,
    /// Starts with the gzip magic, so a compressed layer.
    pub gzip: bool,
    /// The contents of JSON files up to [`SMALL`] bytes.
    pub data: Option<Vec<u8>>,
}

pub struct Archive {
    pub path: PathBuf,
    entries: HashMap<String, Entry>,
    /// Symlinks and hard links: path → target path.
    links: HashMap<String, String>,
}

impl Archive {
    /// The file at `path`, following links.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        let mut p = clean(path);
        for _ in 0..8 {
            if let Some(e) = self.entries.get(&p) {
                return Some(e);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

/// `path` relative to the archive root, without `.`, `..` or empty components.
pub fn clean(path: &str) -> String {
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

/// Only JSON documents (index, manifests, configs) are kept in memory; layers, however
/// small, are streamed in the second pass.
fn looks_like_json(name: &str, first: u8) -> bool {
    name.ends_with(".json") || matches!(first, b'{' | b'[')
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
pub fn scan(path: &Path) -> Result<Archive, RuntimeError> {
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
        let mut data: Option<Vec<u8>> = None;
        let mut buf = vec![0u8; CHUNK];
        let (mut head, mut head_len, mut total) = ([0u8; 2], 0usize, 0u64);
        loop {
            let n = entry.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            if total == 0 && size <= SMALL && looks_like_json(&name, chunk[0]) {
                data = Some(Vec::with_capacity(size as usize));
            }
            for &b in chunk.iter().take(2 - head_len) {
                head[head_len] = b;
                head_len += 1;
            }
            total += n as u64;
            hasher.update(chunk);
            if let Some(d) = data.as_mut() {
                d.extend_from_slice(chunk);
            }
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        let gzip = head == [0x1f, 0x8b];
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

/// Second pass: streams the blobs containerd lacks straight from the archive.
pub async fn copy_blobs(
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
