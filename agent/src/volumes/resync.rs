//! One periodic refresh for every pod's configMap, secret, downwardAPI and projected
//! volumes (not a task per pod): new content reaches running pods within a period, by
//! the atomic writer's swap. A failed refresh keeps the old files, as the kubelet does.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};

use super::setup::{fs_group, refreshable};
use super::VolumeManager;
use crate::objects::{Memo, PodObjects};

/// How often volumes are refreshed; Kubernetes promises about a minute.
pub const RESYNC_EVERY: Duration = Duration::from_secs(10);

impl VolumeManager {
    /// Refreshes every live pod's volumes once, reading each object once for all pods.
    pub async fn resync(&self, objects: &dyn PodObjects) {
        let memo = Memo::new(objects);
        let objects: &dyn PodObjects = &memo;
        let pods: Vec<_> = self.live().values().cloned().collect();
        for pod in pods {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
            for volume in volumes.into_iter().flatten().filter(|v| refreshable(v)) {
                let prepared = match self.prepare(&pod, volume, objects).await {
                    Ok(p) => p,
                    Err(error) => {
                        debug!(pod_uid = %uid, volume = %volume.name, %error, "volume not refreshed");
                        continue;
                    }
                };
                let live = self.live();
                if !live.contains_key(&uid) {
                    break;
                }
                if let Err(error) = self.apply(&prepared, fs_group(&pod)) {
                    warn!(pod_uid = %uid, volume = %volume.name, %error, "volume refresh failed");
                }
            }
        }
    }

    /// Runs [`Self::resync`] every `every`, for as long as the agent runs.
    pub async fn run_resync(self: Arc<Self>, objects: Arc<dyn PodObjects>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            self.resync(objects.as_ref()).await;
        }
    }
}
