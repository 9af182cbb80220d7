//! A recording fake of [`PodRuntime`] for the worker and manager unit tests.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::pod_runtime::{
    ContainerConfig, FoundContainer, FoundState, ImageFailure, PodRuntime, ReadyImage, RtResult,
    SandboxInfo,
};
use crate::containerd::container::ExecOutput;
use crate::probes::ExecRunner;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    CreateSandbox(String),
    RemoveSandbox(String),
    Pull(String),
    Start { container: String, attempt: u32 },
    Stop(String),
    Remove(String),
}

/// The size every fake pull reports.
pub const FAKE_IMAGE_SIZE: u64 = 12345;

#[derive(Default)]
pub struct FakeRuntime {
    pub calls: Mutex<Vec<Call>>,
    pub missing_images: Mutex<HashSet<String>>,
    /// Images pulled once: present on the node from then on.
    pub pulled: Mutex<HashSet<String>>,
    pub containers: Mutex<HashMap<String, FoundContainer>>,
    pub sandboxes: Mutex<HashSet<String>>,
    /// What each start was given, by container name, in order.
    pub configs: Mutex<Vec<(String, ContainerConfig)>>,
    /// Containers whose cgroup reports an OOM kill.
    pub oom_ids: Mutex<HashSet<String>>,
    pub exec: Arc<FakeExec>,
    /// The grace period each stop was given, in order.
    pub stop_graces: Mutex<Vec<Duration>>,
    /// How long each start takes (none by default).
    pub start_time: Duration,
    /// Starts under way now, and the most there ever were at once.
    pub starting: AtomicUsize,
    pub most_starting: AtomicUsize,
}

/// Exec probes answer from a table: command → exit code (0 when not listed).
#[derive(Default)]
pub struct FakeExec {
    pub exit_codes: Mutex<HashMap<String, i32>>,
}

impl ExecRunner for FakeExec {
    fn exec<'a>(
        &'a self,
        _id: &'a str,
        cmd: Vec<String>,
        _timeout: Duration,
    ) -> futures::future::BoxFuture<'a, Result<ExecOutput, String>> {
        let code = self
            .exit_codes
            .lock()
            .unwrap()
            .get(&cmd.join(" "))
            .copied()
            .unwrap_or(0);
        Box::pin(async move {
            Ok(ExecOutput {
                exit_code: code,
                output: Vec::new(),
                timed_out: false,
            })
        })
    }
}

impl FakeRuntime {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn starts(&self) -> Vec<(String, u32)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Start { container, attempt } => Some((container, attempt)),
                _ => None,
            })
            .collect()
    }

    fn record(&self, c: Call) {
        self.calls.lock().unwrap().push(c);
    }
}

impl PodRuntime for FakeRuntime {
    async fn create_sandbox(&self, pod: &Pod) -> RtResult<SandboxInfo> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        self.record(Call::CreateSandbox(uid.clone()));
        self.sandboxes.lock().unwrap().insert(uid);
        Ok(SandboxInfo {
            pod_ip: Some([10, 42, 0, 7].into()),
            host_ip: Some([192, 0, 2, 1].into()),
        })
    }

    async fn collect_garbage(&self, _live: &HashSet<String>) -> RtResult<()> {
        Ok(())
    }

    fn exec_runner(&self) -> Arc<dyn ExecRunner> {
        self.exec.clone()
    }

    fn oom_killed(&self, _pod_uid: &str, id: &str) -> bool {
        self.oom_ids.lock().unwrap().contains(id)
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> RtResult<()> {
        self.record(Call::RemoveSandbox(pod_uid.to_string()));
        self.sandboxes.lock().unwrap().remove(pod_uid);
        Ok(())
    }

    async fn list_sandboxes(&self) -> RtResult<Vec<String>> {
        Ok(self.sandboxes.lock().unwrap().iter().cloned().collect())
    }

    async fn image_present(&self, image: &str) -> bool {
        self.pulled.lock().unwrap().contains(image)
    }

    async fn ensure_image(&self, image: &str, _policy: &str) -> Result<ReadyImage, ImageFailure> {
        self.record(Call::Pull(image.to_string()));
        if self.missing_images.lock().unwrap().contains(image) {
            return Err(ImageFailure::Pull(format!("{image}: manifest unknown")));
        }
        self.pulled.lock().unwrap().insert(image.to_string());
        Ok(ReadyImage {
            name: image.to_string(),
            digest: "sha256:feed".into(),
            handle: "chain".into(),
            size: Some(FAKE_IMAGE_SIZE),
        })
    }

    async fn start_container(
        &self,
        pod: &Pod,
        container: &Container,
        _image: &ReadyImage,
        attempt: u32,
        _log_path: &Path,
        config: &ContainerConfig,
    ) -> RtResult<(String, u32)> {
        self.record(Call::Start {
            container: container.name.clone(),
            attempt,
        });
        self.configs
            .lock()
            .unwrap()
            .push((container.name.clone(), config.clone()));
        let now = self.starting.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_starting.fetch_max(now, Ordering::SeqCst);
        if !self.start_time.is_zero() {
            tokio::time::sleep(self.start_time).await;
        }
        self.starting.fetch_sub(1, Ordering::SeqCst);
        let id = format!("{}-{attempt}", container.name);
        let found = FoundContainer {
            id: id.clone(),
            pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
            pod_namespace: "default".into(),
            pod_name: pod.metadata.name.clone().unwrap_or_default(),
            container_name: container.name.clone(),
            attempt,
            state: FoundState::Running { pid: 100 + attempt },
            created_at: None,
        };
        self.containers.lock().unwrap().insert(id.clone(), found);
        Ok((id, 100 + attempt))
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> RtResult<()> {
        self.stop_graces.lock().unwrap().push(grace);
        self.record(Call::Stop(id.to_string()));
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> RtResult<()> {
        self.record(Call::Remove(id.to_string()));
        self.containers.lock().unwrap().remove(id);
        Ok(())
    }

    async fn inspect_container(&self, id: &str) -> RtResult<Option<FoundContainer>> {
        Ok(self.containers.lock().unwrap().get(id).cloned())
    }

    async fn list_containers(&self) -> RtResult<Vec<FoundContainer>> {
        Ok(self.containers.lock().unwrap().values().cloned().collect())
    }
}
