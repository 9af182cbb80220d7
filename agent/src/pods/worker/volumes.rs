//! The pod's volumes in the worker: set up after the sandbox and before any container
//! (retried with backoff while one fails, the containers waiting in `ContainerCreating`
//! with the kubelet's `MountVolume.SetUp failed ...` message), handed to each container
//! as bind mounts, removed after the containers at teardown. A pod whose emptyDir on
//! disk outgrows its `sizeLimit` is evicted: its containers are stopped for good and it
//! reads `Failed`/`Evicted` with the kubelet's message.

use std::time::Duration;

use k8s_openapi::api::core::v1::Container;
use tokio::time::Instant;
use tracing::warn;

use super::events::Warning;
use super::Worker;
use crate::pods::pod_runtime::{BindMount, PodRuntime};
use crate::pods::slot::SlotState;
use crate::volumes::{container_mounts, has_disk_limit};

/// How often emptyDirs with a `sizeLimit` are measured (the kubelet's eviction manager
/// looks every 10 s).
const USAGE_EVERY: Duration = Duration::from_secs(10);

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
                if has_disk_limit(&self.pod) {
                    self.usage_check = Some(now + USAGE_EVERY);
                }
                self.volume_retry = None;
                self.volume_backoff.reset();
                true
            }
            Err(error) => {
                let delay = self.volume_backoff.next_delay();
                warn!(volume = %error.volume, error = %error.message, retry_in = ?delay, "volume set-up failed");
                let message = error.to_string();
                self.pod_event(Warning, "FailedMount", message.clone());
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

    /// Measures the pod's emptyDirs on disk when due; evicts the pod when one is past its
    /// `sizeLimit`.
    pub(super) fn check_volume_usage(&mut self, now: Instant) {
        if self.evicted.is_some() || self.usage_check.is_none_or(|t| t > now) {
            return;
        }
        self.usage_check = Some(now + USAGE_EVERY);
        if let Some(message) = self.cfg.volumes.over_limit(&self.pod) {
            self.evict(message);
        }
    }

    /// The kubelet's eviction: every container stopped for good, the pod `Failed`.
    fn evict(&mut self, message: String) {
        warn!(%message, "evicting the pod");
        self.pod_event(Warning, "Evicted", message.clone());
        self.usage_check = None;
        self.evicted = Some(message);
        self.stop_for_good(|_| true, "stopping an evicted pod's container");
    }
}
