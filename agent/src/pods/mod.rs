//! Pods on this node: one worker per pod, an explicit state machine per container, and a
//! manager that diffs desired pods with the workers that run.

pub mod backoff;
pub mod env;
pub mod events;
#[cfg(test)]
mod fake;
pub mod manager;
pub mod pod_runtime;
mod similar_events;
pub mod slot;
pub mod start_queue;
pub mod status;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod volume_tests;
pub mod worker;

pub use manager::PodManager;
pub use pod_runtime::{PodRuntime, RuntimeEvent};
pub use start_queue::StartQueue;
pub use status::StatusStore;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::objects::{NoObjects, PodObjects};
use crate::services::ServiceCatalog;
use crate::volumes::VolumeManager;

/// What workers need to know about the node, fixed at start.
#[derive(Clone)]
pub struct WorkerConfig {
    pub root: PathBuf,
    pub node_name: String,
    /// First restart delay of a crash loop and of image pull retries; doubles from there.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A container that ran this long without exiting resets its crash-loop backoff.
    pub backoff_reset: Duration,
    /// The ConfigMaps, Secrets and claims pods use (none on a standalone node).
    pub objects: Arc<dyn PodObjects>,
    /// Sets up and removes pods' volumes, shared by every worker.
    pub volumes: Arc<VolumeManager>,
    /// What the node offers pods (cpu, memory, ephemeral-storage): the downward API
    /// reads a limit a container leaves unset as this.
    pub allocatable: BTreeMap<String, Quantity>,
    /// Where the kubelet's events about pods go (none on a standalone node).
    pub events: Arc<dyn events::EventRecorder>,
    /// The node's Services, for containers' service environment variables.
    pub services: ServiceCatalog,
    /// Paces pod starts, shared by every worker (`start_queue.rs`).
    pub start_queue: StartQueue,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("root", &self.root)
            .field("node_name", &self.node_name)
            .finish_non_exhaustive()
    }
}

impl WorkerConfig {
    pub fn new(root: PathBuf, node_name: String) -> Self {
        Self {
            node_name,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            backoff_reset: Duration::from_secs(600),
            volumes: Arc::new(VolumeManager::for_host(&root, BTreeMap::new())),
            objects: Arc::new(NoObjects),
            allocatable: BTreeMap::new(),
            events: Arc::new(events::NoEvents),
            services: ServiceCatalog::default(),
            start_queue: StartQueue::for_node(),
            root,
        }
    }
}

/// `namespace/name`, for logs.
pub fn pod_key(pod: &k8s_openapi::api::core::v1::Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}
