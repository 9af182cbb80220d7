//! The pod's volumes in the worker: set up after the sandbox and before any container
//! (retried with backoff while one fails, the containers waiting in `ContainerCreating`
//! with the kubelet's `MountVolume.SetUp failed ...` message), handed to each container
//! as bind mounts, removed after the containers at teardown.

use k8s_openapi::api::core::v1::Container;
use tokio::time::Instant;
use tracing::warn;

use super::Worker;
use crate::pods::pod_runtime::{BindMount, PodRuntime};
use crate::pods::slot::SlotState;
use crate::volumes::container_mounts;

impl<R: PodRuntime> Worker<R> {
    /// True once the pod's volumes are set up; otherwise the containers wait.
    pub(super) async fn ensure_volumes(&mut self, now: Instant) -> bool {
        if self.volumes.is_some() {
            return true;
        }
        if self.volume_retry.is_some_and(|t| t > now) {
            return false;
        }
        match self
            .cfg
            .volumes
            .setup(&self.pod, self.cfg.objects.as_ref())
            .await
        {
            Ok(volumes) => {
                self.volumes = Some(volumes);
                self.volume_retry = None;
                self.volume_backoff.reset();
                true
            }
            Err(error) => {
                let delay = self.volume_backoff.next_delay();
                warn!(volume = %error.volume, error = %error.message, retry_in = ?delay, "volume set-up failed");
                let message = error.to_string();
                for slot in &mut self.slots {
                    if matches!(&slot.state, SlotState::Waiting { reason, .. } if reason == "ContainerCreating")
                    {
                        slot.wait("ContainerCreating", message.clone());
                    }
                }
                self.volume_retry = Some(now + delay);
                false
            }
        }
    }

    /// The bind mounts of one container; `env` is its resolved environment.
    pub(super) fn container_mounts(
        &self,
        spec: &Container,
        env: &[(String, String)],
    ) -> Result<Vec<BindMount>, String> {
        match &self.volumes {
            Some(volumes) => container_mounts(volumes, spec, env),
            None => Ok(Vec::new()),
        }
    }

    /// After the containers are gone: unmount and remove the pod's volumes.
    pub(super) fn teardown_volumes(&mut self) {
        self.volumes = None;
        if let Err(error) = self.cfg.volumes.teardown(&self.pod) {
            warn!(%error, "cannot remove the pod's volumes");
        }
    }
}
