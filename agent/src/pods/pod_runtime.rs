//! What a pod worker asks of the node: sandboxes, images and containers. The real
//! implementation (`wiring::node_runtime`) drives containerd and the pod sandboxes; tests
//! use a recording fake.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

/// Why an image could not be made ready; maps to the kubelet's waiting reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageFailure {
    /// `ErrImagePull`, then `ImagePullBackOff` while waiting to retry.
    Pull(String),
    /// `ErrImageNeverPull`: policy Never and the image is not on the node.
    NeverPull(String),
    /// `InvalidImageName`
    InvalidName(String),
}

/// An image ready to run, as the worker needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyImage {
    /// Normalised reference, shown as the container's image.
    pub name: String,
    /// `sha256:…` of the manifest, shown as imageID.
    pub digest: String,
    /// Opaque handle the runtime uses to create the container.
    pub handle: String,
    /// Bytes of the image's content, when the runtime knows them.
    pub size: Option<u64>,
}

/// A container found on the node, with the labels skiff put on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundContainer {
    pub id: String,
    pub pod_uid: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub container_name: String,
    pub attempt: u32,
    pub state: FoundState,
    /// When the container record was created (unix seconds), our best start time.
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundState {
    Running {
        pid: u32,
    },
    Exited {
        exit_code: i32,
        finished_at: Option<i64>,
    },
    /// Created but never started, or its task is gone: not worth adopting.
    Dead,
}

pub use crate::volumes::BindMount;

/// What the worker resolved for one start of a container, beyond its spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// The container's own variables (`env` with `valueFrom`, `envFrom`) resolved and
    /// `$(VAR)`-expanded, in order; the image's environment goes beneath them.
    pub env: Vec<(String, String)>,
    /// The pod's volumes as this container mounts them.
    pub mounts: Vec<BindMount>,
}

/// What a pod's sandbox gives its containers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxInfo {
    /// The pod's address; the node's for hostNetwork pods.
    pub pod_ip: Option<IpAddr>,
    pub host_ip: Option<IpAddr>,
}

/// Something the runtime saw happen, fanned out to every worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    Exited {
        id: String,
        exit_code: i32,
        finished_at: Option<i64>,
    },
    /// The kernel's OOM killer hit this container; its exit follows.
    Oom { id: String },
    /// Events may have been lost (containerd restarted): re-check what you hold.
    Resync,
}

pub type RtResult<T> = Result<T, String>;

/// The node operations a pod worker needs. Futures are `Send` so workers can be spawned.
pub trait PodRuntime: Send + Sync + 'static {
    /// Creates (or, after a restart, finds again) the pod's namespaces and network.
    fn create_sandbox(&self, pod: &Pod) -> impl Future<Output = RtResult<SandboxInfo>> + Send;
    fn remove_sandbox(&self, pod_uid: &str) -> impl Future<Output = RtResult<()>> + Send;
    fn list_sandboxes(&self) -> impl Future<Output = RtResult<Vec<String>>> + Send;
    /// Drops network leftovers (addresses, links) of pods not in `live`.
    fn collect_garbage(&self, live: &HashSet<String>) -> impl Future<Output = RtResult<()>> + Send;

    /// Whether the image is stored on the node already (the kubelet's "already present
    /// on machine"); never pulls.
    fn image_present(&self, image: &str) -> impl Future<Output = bool> + Send;

    fn ensure_image(
        &self,
        image: &str,
        pull_policy: &str,
    ) -> impl Future<Output = Result<ReadyImage, ImageFailure>> + Send;

    /// Creates and starts attempt `attempt` of `container`; returns (container id, pid).
    fn start_container(
        &self,
        pod: &Pod,
        container: &Container,
        image: &ReadyImage,
        attempt: u32,
        log_path: &Path,
        config: &ContainerConfig,
    ) -> impl Future<Output = RtResult<(String, u32)>> + Send;

    /// SIGTERM, then SIGKILL once `grace` has passed.
    fn stop_container(
        &self,
        id: &str,
        grace: Duration,
    ) -> impl Future<Output = RtResult<()>> + Send;
    /// Removes task, container and snapshot; a missing container is not an error.
    fn remove_container(&self, id: &str) -> impl Future<Output = RtResult<()>> + Send;
    fn inspect_container(
        &self,
        id: &str,
    ) -> impl Future<Output = RtResult<Option<FoundContainer>>> + Send;
    fn list_containers(&self) -> impl Future<Output = RtResult<Vec<FoundContainer>>> + Send;

    /// Runs exec probes inside containers.
    fn exec_runner(&self) -> Arc<dyn crate::probes::ExecRunner>;
    /// Whether the container's cgroup saw an OOM kill; asked before its removal, since the
    /// cgroup goes with the task.
    fn oom_killed(&self, pod_uid: &str, id: &str) -> bool;
}

/// Groups found containers by pod uid.
pub fn by_pod(found: Vec<FoundContainer>) -> HashMap<String, Vec<FoundContainer>> {
    let mut out: HashMap<String, Vec<FoundContainer>> = HashMap::new();
    for c in found {
        out.entry(c.pod_uid.clone()).or_default().push(c);
    }
    out
}
