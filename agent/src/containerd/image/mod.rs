//! Images: pull, import and unpack, client-side.
//!
//! containerd 1.6 has no Transfer service, so the agent does what `ctr pull` does itself:
//! fetch blobs with an OCI registry client into the content store under a lease, label them
//! for containerd's GC, unpack layers into overlayfs snapshots named by chain ID, and write
//! the image record. Archives in `--images` go through the same path.

mod archive;
mod content;
mod import;
mod manifest;
mod pull;
pub mod reference;
pub mod registries;
mod store;
mod unpack;

#[cfg(test)]
mod real_tests;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::future::{BoxFuture, FutureExt, Shared};
use tracing::{info, warn};

use super::{Containerd, RuntimeError};
use content::Lease;
use manifest::Descriptor;

pub use reference::{normalise, ImageRef};
pub use registries::Registries;

/// Label on image records saying how skiff got the image.
const SOURCE_LABEL: &str = "io.skiff.image.source";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// Kubernetes' default when a container leaves `imagePullPolicy` empty.
    pub fn default_for(image: &str) -> Self {
        match ImageRef::parse(image) {
            Ok(r) if r.digest().is_none() && r.tag() == Some("latest") => Self::Always,
            Ok(_) => Self::IfNotPresent,
            Err(_) => Self::Always,
        }
    }
}

impl FromStr for PullPolicy {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Always" => Ok(Self::Always),
            "IfNotPresent" => Ok(Self::IfNotPresent),
            "Never" => Ok(Self::Never),
            other => Err(RuntimeError::InvalidArgument(format!(
                "image pull policy {other:?} (want Always, IfNotPresent or Never)"
            ))),
        }
    }
}

/// An image ready to run: its record exists and its layers are unpacked.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// Normalised reference, the containerd image record name.
    pub name: String,
    /// Digest of the record's target (manifest or index).
    pub digest: String,
    /// Top snapshot: the parent for a container's rootfs snapshot.
    pub chain_id: String,
    pub config: oci_spec::image::ImageConfiguration,
    /// Bytes of its stored content, as the kubelet's `Pulled` event shows them.
    pub size: u64,
}

type Flight = Shared<BoxFuture<'static, Result<ImageInfo, Arc<RuntimeError>>>>;

#[derive(Clone)]
pub struct ImageService {
    inner: Arc<Inner>,
}

struct Inner {
    ctrd: Containerd,
    puller: pull::Puller,
    /// In-flight pulls by (name, always), so concurrent callers share one.
    flights: Mutex<HashMap<(String, bool), (u64, Flight)>>,
    next_flight: AtomicU64,
    /// Archives already imported, by path, with the size and mtime seen then.
    imported: tokio::sync::Mutex<HashMap<PathBuf, (u64, Option<SystemTime>)>>,
}

impl ImageService {
    pub fn new(ctrd: Containerd, registries: Registries) -> Self {
        Self {
            inner: Arc::new(Inner {
                ctrd,
                puller: pull::Puller::new(registries),
                flights: Mutex::new(HashMap::new()),
                next_flight: AtomicU64::new(0),
                imported: tokio::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Returns an unpacked image, pulling per policy. Concurrent calls for the same image
    /// share one pull.
    pub async fn ensure(&self, image: &str, policy: PullPolicy) -> Result<ImageInfo, RuntimeError> {
        let r = ImageRef::parse(image)?;
        let name = r.name();
        match policy {
            PullPolicy::Never => self.local(&name).await?.ok_or_else(|| RuntimeError::Image {
                image: name,
                message: "image not present with pull policy Never".into(),
            }),
            PullPolicy::IfNotPresent => {
                self.single_flight((name, false), |svc| async move {
                    match svc.local(&r.name()).await? {
                        Some(info) => Ok(info),
                        None => svc.pull(&r).await,
                    }
                })
                .await
            }
            PullPolicy::Always => {
                self.single_flight((name, true), |svc| async move {
                    // A digest names immutable content: if we have it, there is nothing newer.
                    if r.digest().is_some() {
                        if let Some(info) = svc.local(&r.name()).await? {
                            return Ok(info);
                        }
                    }
                    svc.pull(&r).await
                })
                .await
            }
        }
    }

    /// The image if it is stored locally, unpacking it if needed; never pulls.
    pub async fn get(&self, image: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        self.local(&normalise(image)?).await
    }

    /// Imports every archive in `dir` not imported before in this (path, size, mtime);
    /// returns the names of the images imported by this call.
    pub async fn import_dir(&self, dir: &Path) -> Result<Vec<String>, RuntimeError> {
        let mut imported = self.inner.imported.lock().await;
        let rd = std::fs::read_dir(dir)
            .map_err(|e| RuntimeError::io(format!("read {}", dir.display()), e))?;
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| archive::is_archive(p))
            .collect();
        paths.sort();
        let mut names = Vec::new();
        for path in paths {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let seen = (meta.len(), meta.modified().ok());
            if imported.get(&path) == Some(&seen) {
                continue;
            }
            match self.import_file(&path).await {
                Ok(n) => names.extend(n),
                Err(e) if e.is_unavailable() => return Err(e),
                // A broken archive is retried only once it changes.
                Err(e) => warn!(archive = %path.display(), error = %e, "image import failed"),
            }
            imported.insert(path, seen);
        }
        Ok(names)
    }

    async fn import_file(&self, path: &Path) -> Result<Vec<String>, RuntimeError> {
        let ctrd = &self.inner.ctrd;
        let started = std::time::Instant::now();
        let lease = Lease::create(ctrd, "import").await?;
        let result = async {
            let images = import::import_archive(ctrd, &lease, path).await?;
            let mut names = Vec::new();
            for (name, target) in images {
                let info = commit(ctrd, &lease, &name, &target, "import").await?;
                info!(archive = %path.display(), image = %info.name, digest = %info.digest, "image imported");
                names.push(info.name);
            }
            Ok(names)
        }
        .await;
        lease.delete().await;
        if result.is_ok() {
            info!(archive = %path.display(), elapsed_ms = started.elapsed().as_millis() as u64, "archive imported");
        }
        result
    }

    async fn pull(&self, r: &ImageRef) -> Result<ImageInfo, RuntimeError> {
        let ctrd = &self.inner.ctrd;
        let lease = Lease::create(ctrd, "pull").await?;
        let result = async {
            let target = self.inner.puller.pull(ctrd, &lease, r).await?;
            commit(ctrd, &lease, &r.name(), &target, "pull").await
        }
        .await;
        lease.delete().await;
        result
    }

    /// The stored image `name`, unpacked; None when there is no record or its content is
    /// incomplete (so a pull can repair it).
    async fn local(&self, name: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        let ctrd = &self.inner.ctrd;
        let Some(target) = store::get_record(ctrd, name).await? else {
            return Ok(None);
        };
        let resolved = match store::resolve(ctrd, name, &target).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => {
                warn!(image = %name, error = %e, "image content is incomplete");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let info = |chain_id: String, r: store::Resolved| ImageInfo {
            name: name.to_string(),
            digest: target.digest.clone(),
            chain_id,
            size: r.size(),
            config: r.config,
        };
        if let Some(chain_id) = unpack::unpacked(ctrd, &resolved).await? {
            return Ok(Some(info(chain_id, resolved)));
        }
        let lease = Lease::create(ctrd, "unpack").await?;
        let result = async {
            store::label_gc(ctrd, &resolved).await?;
            unpack::unpack(ctrd, &lease, name, &resolved).await
        }
        .await;
        lease.delete().await;
        match result {
            Ok(chain_id) => Ok(Some(info(chain_id, resolved))),
            Err(e) if e.is_not_found() => {
                warn!(image = %name, error = %e, "image layers are missing");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs `make`'s future once per key at a time, on its own task so a caller giving up
    /// doesn't abandon a half-done pull; every concurrent caller gets its result.
    async fn single_flight<F, Fut>(
        &self,
        key: (String, bool),
        make: F,
    ) -> Result<ImageInfo, RuntimeError>
    where
        F: FnOnce(ImageService) -> Fut,
        Fut: Future<Output = Result<ImageInfo, RuntimeError>> + Send + 'static,
    {
        let flight = {
            let mut flights = self.inner.flights.lock().unwrap_or_else(|e| e.into_inner());
            match flights.get(&key) {
                Some((_, f)) => f.clone(),
                None => {
                    let id = self.inner.next_flight.fetch_add(1, Ordering::Relaxed);
                    let fut = make(self.clone());
                    let task = tokio::spawn(fut);
                    let (svc, k) = (self.clone(), key.clone());
                    let f = async move {
                        let res = task.await.unwrap_or_else(|e| {
                            Err(RuntimeError::Image {
                                image: k.0.clone(),
                                message: format!("pull task failed: {e}"),
                            })
                        });
                        let mut flights =
                            svc.inner.flights.lock().unwrap_or_else(|e| e.into_inner());
                        if flights.get(&k).is_some_and(|(i, _)| *i == id) {
                            flights.remove(&k);
                        }
                        res.map_err(Arc::new)
                    }
                    .boxed()
                    .shared();
                    flights.insert(key, (id, f.clone()));
                    f
                }
            }
        };
        flight.await.map_err(|e| clone_error(&e))
    }
}

/// Labels, unpacks and records an image whose blobs are all in the content store.
async fn commit(
    ctrd: &Containerd,
    lease: &Lease,
    name: &str,
    target: &Descriptor,
    source: &str,
) -> Result<ImageInfo, RuntimeError> {
    let resolved = store::resolve(ctrd, name, target).await?;
    store::label_gc(ctrd, &resolved).await?;
    let chain_id = unpack::unpack(ctrd, lease, name, &resolved).await?;
    let labels = HashMap::from([(SOURCE_LABEL.to_string(), source.to_string())]);
    store::put_record(ctrd, name, target, labels).await?;
    Ok(ImageInfo {
        name: name.to_string(),
        digest: target.digest.clone(),
        chain_id,
        size: resolved.size(),
        config: resolved.config,
    })
}

/// A copy of a shared error for each waiter, keeping what callers branch on.
fn clone_error(e: &RuntimeError) -> RuntimeError {
    match e {
        RuntimeError::Containerd(s) => RuntimeError::Containerd(s.clone()),
        RuntimeError::Image { image, message } => RuntimeError::Image {
            image: image.clone(),
            message: message.clone(),
        },
        e if e.is_unavailable() => RuntimeError::Unavailable(e.to_string()),
        e if e.is_not_found() => RuntimeError::NotFound(e.to_string()),
        e => RuntimeError::InvalidArgument(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_parses_k8s_strings() {
        assert_eq!("Always".parse::<PullPolicy>().unwrap(), PullPolicy::Always);
        assert_eq!(
            "IfNotPresent".parse::<PullPolicy>().unwrap(),
            PullPolicy::IfNotPresent
        );
        assert_eq!("Never".parse::<PullPolicy>().unwrap(), PullPolicy::Never);
        assert!("always".parse::<PullPolicy>().is_err());
    }

    #[test]
    fn default_policy_follows_kubernetes() {
        assert_eq!(PullPolicy::default_for("nginx"), PullPolicy::Always);
        assert_eq!(PullPolicy::default_for("nginx:latest"), PullPolicy::Always);
        assert_eq!(
            PullPolicy::default_for("nginx:1.25"),
            PullPolicy::IfNotPresent
        );
    }

    #[test]
    fn shared_errors_keep_their_kind() {
        let e = clone_error(&RuntimeError::Containerd(tonic::Status::unavailable(
            "gone",
        )));
        assert!(e.is_unavailable());
        let e = clone_error(&RuntimeError::io("x", std::io::ErrorKind::Other.into()));
        assert!(matches!(e, RuntimeError::InvalidArgument(_)));
    }
}
