//! Setting up a pod's volumes: first everything that needs the control plane (objects)
//! or may fail, then, under the manager's lock, the directories, tmpfs mounts and files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Pod, Volume};
use tracing::info;

use super::atomic_writer::{self, Payload};
use super::claim::claim_path;
use super::host_path::check_type;
use super::layout;
use super::mount_ops::is_mounted;
use super::ownership;
use super::projection;
use super::{PodVolumes, VolumeError, VolumeManager, VolumePath};
use crate::objects::PodObjects;

/// One volume, ready to be laid out.
pub(super) enum Prepared {
    /// Files behind the atomic writer's `..data` link; on a tmpfs when `in_memory`.
    Files {
        dir: PathBuf,
        payload: Payload,
        in_memory: bool,
    },
    EmptyDir {
        dir: PathBuf,
        /// `medium: Memory`, with the tmpfs size from `sizeLimit`.
        memory: Option<Option<u64>>,
    },
    /// A directory that exists on the host already (hostPath, a claim's volume).
    Host { path: PathBuf, read_only: bool },
}

/// Whether the resync rewrites this volume (its content comes from objects or the pod).
pub(super) fn refreshable(v: &Volume) -> bool {
    v.config_map.is_some()
        || v.secret.is_some()
        || v.downward_api.is_some()
        || v.projected.is_some()
}

impl VolumeManager {
    /// Sets up every volume of `pod` (again: it is idempotent). The first volume that
    /// fails stops the set-up; its error names it.
    pub async fn setup(
        &self,
        pod: &Pod,
        objects: &dyn PodObjects,
    ) -> Result<PodVolumes, VolumeError> {
        let volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        let mut prepared = Vec::with_capacity(volumes.len());
        for volume in &volumes {
            let p = self
                .prepare(pod, volume, objects)
                .await
                .map_err(|message| VolumeError {
                    volume: volume.name.clone(),
                    message,
                })?;
            prepared.push((volume.name.clone(), p));
        }
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut live = self.live();
        let mut out = PodVolumes::new();
        for (name, p) in prepared {
            let path = self
                .apply(&p, fs_group(pod))
                .map_err(|message| VolumeError {
                    volume: name.clone(),
                    message,
                })?;
            out.insert(name, path);
        }
        if volumes.iter().any(refreshable) {
            live.insert(uid, pod.clone());
        }
        Ok(out)
    }

    pub(super) async fn prepare(
        &self,
        pod: &Pod,
        v: &Volume,
        objects: &dyn PodObjects,
    ) -> Result<Prepared, String> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let dir = |plugin: &str| layout::volume_dir(&self.root, pod, plugin, &v.name);
        let files = |plugin: &str, payload: Payload, in_memory: bool| Prepared::Files {
            dir: dir(plugin),
            payload,
            in_memory,
        };
        if let Some(src) = &v.config_map {
            let payload = projection::config_map(ns, src, objects).await?;
            return Ok(files(layout::CONFIG_MAP, payload, false));
        }
        if let Some(src) = &v.secret {
            let payload = projection::secret(ns, src, objects).await?;
            return Ok(files(layout::SECRET, payload, true));
        }
        if let Some(src) = &v.downward_api {
            let payload = projection::downward_api(pod, src, &self.allocatable)?;
            return Ok(files(layout::DOWNWARD_API, payload, true));
        }
        if let Some(src) = &v.projected {
            let from = projection::ProjectionSources {
                objects,
                tokens: &self.tokens,
                allocatable: &self.allocatable,
            };
            let payload = projection::projected(pod, src, &from).await?;
            return Ok(files(layout::PROJECTED, payload, true));
        }
        if let Some(src) = &v.empty_dir {
            let memory = match src.medium.as_deref().unwrap_or("") {
                "" => None,
                "Memory" => Some(
                    src.size_limit
                        .as_ref()
                        .map(|q| {
                            skiff_proto::model::to_bytes(q)
                                .ok_or_else(|| format!("invalid sizeLimit {:?}", q.0))
                        })
                        .transpose()?,
                ),
                other => return Err(format!("emptyDir medium {other:?} is not supported")),
            };
            return Ok(Prepared::EmptyDir {
                dir: dir(layout::EMPTY_DIR),
                memory,
            });
        }
        if let Some(src) = &v.host_path {
            let path = PathBuf::from(&src.path);
            check_type(&path, src.type_.as_deref())?;
            return Ok(Prepared::Host {
                path,
                read_only: false,
            });
        }
        if let Some(src) = &v.persistent_volume_claim {
            let path = claim_path(objects, ns, &src.claim_name).await?;
            return Ok(Prepared::Host {
                path,
                read_only: src.read_only == Some(true),
            });
        }
        Err(
            "this volume type is not supported by skiff (supported: configMap, secret, \
             emptyDir, hostPath, downwardAPI, projected, persistentVolumeClaim)"
                .into(),
        )
    }

    /// Lays out one prepared volume, owned by the pod's fsGroup when it has one. Callers
    /// hold the `live` lock.
    pub(super) fn apply(&self, p: &Prepared, fs_group: Option<u32>) -> Result<VolumePath, String> {
        match p {
            Prepared::Files {
                dir,
                payload,
                in_memory,
            } => {
                if *in_memory {
                    self.ensure_tmpfs(dir, None)?;
                } else {
                    mkdir(dir)?;
                }
                let changed = atomic_writer::write(dir, payload)
                    .map_err(|e| format!("writing {}: {e}", dir.display()))?;
                if changed {
                    info!(dir = %dir.display(), files = payload.len(), "volume files written");
                }
                own(dir, fs_group, true, changed)?;
                Ok(VolumePath {
                    path: dir.clone(),
                    read_only: true,
                })
            }
            Prepared::EmptyDir { dir, memory } => {
                match memory {
                    Some(size) => self.ensure_tmpfs(dir, *size)?,
                    None => mkdir(dir)?,
                }
                // Writable by any user of the pod, as the kubelet makes them.
                let mode = fs::metadata(dir)
                    .map_err(|e| format!("reading {}: {e}", dir.display()))?
                    .permissions()
                    .mode();
                if mode & 0o777 != 0o777 {
                    // Keeps the setgid bit an fsGroup put there.
                    fs::set_permissions(dir, fs::Permissions::from_mode((mode & 0o7777) | 0o777))
                        .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
                }
                own(dir, fs_group, false, false)?;
                Ok(VolumePath {
                    path: dir.clone(),
                    read_only: false,
                })
            }
            Prepared::Host { path, read_only } => Ok(VolumePath {
                path: path.clone(),
                read_only: *read_only,
            }),
        }
    }

    /// A tmpfs on `dir`, unless one is there already (after an agent restart).
    fn ensure_tmpfs(&self, dir: &Path, size: Option<u64>) -> Result<(), String> {
        mkdir(dir)?;
        let mounted = is_mounted(self.ops.as_ref(), dir)
            .map_err(|e| format!("reading the mounts of {}: {e}", dir.display()))?;
        if !mounted {
            self.ops
                .mount_tmpfs(dir, size)
                .map_err(|e| format!("mounting a tmpfs on {}: {e}", dir.display()))?;
        }
        Ok(())
    }
}

/// The pod's `securityContext.fsGroup`, as a gid.
pub(super) fn fs_group(pod: &Pod) -> Option<u32> {
    let gid = pod.spec.as_ref()?.security_context.as_ref()?.fs_group?;
    u32::try_from(gid).ok()
}

/// Applies `fs_group` to a volume whose files just changed, or whose root does not have
/// the group yet.
fn own(dir: &Path, fs_group: Option<u32>, read_only: bool, changed: bool) -> Result<(), String> {
    let Some(gid) = fs_group else {
        return Ok(());
    };
    if changed || !ownership::root_matches(dir, gid) {
        ownership::set_ownership(dir, gid, read_only)
            .map_err(|e| format!("applying fsGroup {gid} to {}: {e}", dir.display()))?;
    }
    Ok(())
}

fn mkdir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))
}
