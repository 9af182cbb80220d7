//! Static pods from `--manifests DIR`, picked up as files are added, changed and removed.
//!
//! inotify (through `notify`) makes a change visible within milliseconds; a periodic rescan
//! is the backstop for events the kernel drops. Each file's pods get a uid derived from
//! the file's path and content, as the kubelet does, so an edit replaces the pod.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use notify::{RecursiveMode, Watcher};
use skiff_proto::model::{self, Object};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::{DesiredPods, SourceError};

const RESCAN_EVERY: Duration = Duration::from_secs(20);
/// Editors write a file in several steps; wait for them to settle before reading.
const SETTLE: Duration = Duration::from_millis(20);

/// The pods one file yields, or why it yields none.
#[derive(Debug, Clone)]
struct FileState {
    fingerprint: (u64, SystemTime),
    result: Result<Vec<Pod>, String>,
}

pub struct ManifestSource {
    dir: PathBuf,
    files: HashMap<PathBuf, FileState>,
    /// Last good pods per file: a file that turns invalid keeps its pods running.
    last_good: HashMap<PathBuf, Vec<Pod>>,
}

impl ManifestSource {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
            last_good: HashMap::new(),
        }
    }

    /// Watches the directory until the receiver side of `tx` is gone.
    pub async fn run(mut self, tx: watch::Sender<DesiredPods>) {
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Reads (ours included: scanning opens the directory) change nothing; waking on
            // them would rescan in a loop.
            if let Ok(ev) = res {
                if !is_read(&ev.kind) {
                    let _ = ev_tx.send(());
                }
            }
        });
        let _watcher = match watcher {
            Ok(mut w) => match w.watch(&self.dir, RecursiveMode::NonRecursive) {
                Ok(()) => Some(w),
                Err(error) => {
                    warn!(dir = %self.dir.display(), %error, "cannot watch manifests dir; rescanning periodically");
                    None
                }
            },
            Err(error) => {
                warn!(%error, "inotify unavailable; rescanning periodically");
                None
            }
        };
        loop {
            let desired = self.scan();
            tx.send_if_modified(|cur| {
                let changed = cur.pods.len() != desired.pods.len()
                    || cur.pods.keys().ne(desired.pods.keys())
                    || cur.errors != desired.errors;
                *cur = desired;
                changed
            });
            tokio::select! {
                _ = tx.closed() => return,
                got = ev_rx.recv() => {
                    if got.is_none() {
                        tokio::time::sleep(RESCAN_EVERY).await;
                    }
                    tokio::time::sleep(SETTLE).await;
                    while ev_rx.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep(RESCAN_EVERY) => {}
            }
        }
    }

    /// Reads the files that changed since the last scan and returns the merged state.
    pub fn scan(&mut self) -> DesiredPods {
        let mut seen = std::collections::HashSet::new();
        match std::fs::read_dir(&self.dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if !is_manifest(&path) {
                        continue;
                    }
                    let Ok(meta) = entry.metadata() else { continue };
                    if !meta.is_file() {
                        continue;
                    }
                    let fingerprint = (
                        meta.len(),
                        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    );
                    seen.insert(path.clone());
                    if self
                        .files
                        .get(&path)
                        .is_some_and(|f| f.fingerprint == fingerprint)
                    {
                        continue;
                    }
                    let result = load_file(&path, fingerprint.1);
                    match &result {
                        Ok(pods) => {
                            info!(file = %path.display(), pods = pods.len(), "manifest loaded");
                            self.last_good.insert(path.clone(), pods.clone());
                        }
                        Err(error) => warn!(file = %path.display(), %error, "manifest rejected"),
                    }
                    self.files.insert(
                        path,
                        FileState {
                            fingerprint,
                            result,
                        },
                    );
                }
            }
            Err(error) => warn!(dir = %self.dir.display(), %error, "cannot read manifests dir"),
        }
        self.files.retain(|p, _| seen.contains(p));
        self.last_good.retain(|p, _| seen.contains(p));
        self.merge()
    }

    fn merge(&self) -> DesiredPods {
        let mut out = DesiredPods::default();
        let mut names: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
        let mut paths: Vec<&PathBuf> = self.files.keys().collect();
        paths.sort();
        for path in paths {
            let state = &self.files[path];
            if let Err(message) = &state.result {
                out.errors.push(SourceError {
                    file: path.display().to_string(),
                    message: message.clone(),
                });
            }
            for pod in self.last_good.get(path).into_iter().flatten() {
                let key = (
                    pod.metadata.namespace.clone().unwrap_or_default(),
                    pod.metadata.name.clone().unwrap_or_default(),
                );
                if let Some(first) = names.get(&key) {
                    out.errors.push(SourceError {
                        file: path.display().to_string(),
                        message: format!(
                            "pod {}/{} is already defined in {}; ignored",
                            key.0,
                            key.1,
                            first.display()
                        ),
                    });
                    continue;
                }
                names.insert(key, path.clone());
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                out.pods.insert(uid, std::sync::Arc::new(pod.clone()));
            }
        }
        out
    }
}

fn is_read(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
        notify::EventKind::Access(_) => true,
        _ => false,
    }
}

fn is_manifest(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    !hidden
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
}

/// Decodes, defaults and validates every document; any error rejects the whole file so a
/// half-applied file never runs.
fn load_file(path: &Path, mtime: SystemTime) -> Result<Vec<Pod>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let source = path.display().to_string();
    let objects = model::decode_documents(&source, &text).map_err(|e| e.to_string())?;
    let created = Time(jiff::Timestamp::try_from(mtime).unwrap_or_else(|_| jiff::Timestamp::now()));
    let mut pods = Vec::new();
    for (i, object) in objects.into_iter().enumerate() {
        let Object::Pod(mut pod) = object else {
            return Err(format!(
                "{source}: document {}: kind {}: only Pods run from a static manifest",
                i + 1,
                object.kind()
            ));
        };
        model::default_pod(&mut pod);
        model::validate_pod(&pod).map_err(|e| format!("{source}: document {}: {e}", i + 1))?;
        let json = serde_json::to_vec(&pod).unwrap_or_default();
        pod.metadata.uid = Some(model::static_pod_uid(&source, &json));
        pod.metadata.creation_timestamp = Some(created.clone());
        let annotations = pod
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        annotations.insert("kubernetes.io/config.source".into(), "file".into());
        annotations.insert("kubernetes.io/config.path".into(), source.clone());
        pods.push(pod);
    }
    Ok(pods)
}
