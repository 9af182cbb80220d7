//! The node side of the local-path provisioner (docs/architecture.md, Storage): the
//! agent publishes its `--local-path-dir` on its Node (the provisioner puts volumes
//! there), and removes the directories of its Released `reclaimPolicy: Delete` volumes,
//! reporting each one so the control plane deletes the volume. Only directories named
//! as the provisioner names them, straight under the local-path dir, are ever removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use skiff_proto::storage::LOCAL_PATH_DIR_ANNOTATION;
use skiff_proto::v1::node_client::NodeClient;
use skiff_proto::v1::{ListReleasedVolumesRequest, UpdateNodeStatusRequest, VolumeDeletedRequest};
use tonic::transport::Channel;
use tracing::{info, warn};

/// How often released volumes are looked for.
const PERIOD: Duration = Duration::from_secs(3);

/// The directory of a released volume if it is one the agent may remove: `path` is a
/// direct child of `root` named `pvc-...`.
pub fn removable(root: &Path, path: &str) -> Option<PathBuf> {
    let path = Path::new(path);
    let name = path.file_name()?.to_str()?;
    let parent = path.parent()?;
    (parent == root && name.starts_with("pvc-") && !name.contains('/') && name != "..")
        .then(|| path.to_path_buf())
}

pub async fn run(channel: Channel, node_name: String, root: PathBuf) {
    let mut client = NodeClient::new(channel);
    // The provisioner falls back to the default dir until this lands; retried until it does.
    loop {
        let req = UpdateNodeStatusRequest {
            node_name: node_name.clone(),
            annotations: [(
                LOCAL_PATH_DIR_ANNOTATION.to_string(),
                root.display().to_string(),
            )]
            .into(),
            conditions: vec![],
        };
        match client.update_node_status(req).await {
            Ok(_) => break,
            Err(status) => {
                warn!(code = ?status.code(), message = status.message(), "local-path dir not published");
                tokio::time::sleep(PERIOD).await;
            }
        }
    }
    loop {
        reclaim(&mut client, &node_name, &root).await;
        tokio::time::sleep(PERIOD).await;
    }
}

async fn reclaim(client: &mut NodeClient<Channel>, node_name: &str, root: &Path) {
    let req = ListReleasedVolumesRequest {
        node_name: node_name.to_string(),
    };
    let volumes = match client.list_released_volumes(req).await {
        Ok(resp) => resp.into_inner().volumes,
        Err(status) => {
            warn!(code = ?status.code(), message = status.message(), "released volumes not listed");
            return;
        }
    };
    for volume in volumes {
        let Some(dir) = removable(root, &volume.path) else {
            warn!(volume = %volume.name, path = %volume.path, "released volume outside the local-path dir left alone");
            continue;
        };
        let removed = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
        .await;
        match removed {
            Ok(Ok(())) => {
                info!(volume = %volume.name, dir = %dir.display(), "volume directory removed")
            }
            Ok(Err(error)) => {
                warn!(volume = %volume.name, dir = %dir.display(), %error, "volume directory not removed");
                continue;
            }
            Err(_) => continue,
        }
        let req = VolumeDeletedRequest {
            node_name: node_name.to_string(),
            name: volume.name.clone(),
        };
        if let Err(status) = client.volume_deleted(req).await {
            warn!(volume = %volume.name, code = ?status.code(), message = status.message(), "volume deletion not reported");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_provisioned_directories_under_the_root_are_removable() {
        let root = Path::new("/var/lib/skiff/storage");
        assert!(removable(root, "/var/lib/skiff/storage/pvc-1_default_data").is_some());
        assert!(removable(root, "/var/lib/skiff/storage").is_none());
        assert!(removable(root, "/var/lib/skiff/storage/other").is_none());
        assert!(removable(root, "/etc/pvc-x").is_none());
        assert!(removable(root, "/var/lib/skiff/storage/pvc-1/../../x").is_none());
        assert!(removable(root, "/var/lib/skiff/storage/a/pvc-1").is_none());
    }
}
