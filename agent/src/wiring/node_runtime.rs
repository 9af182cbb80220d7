//! The real [`PodRuntime`]: sandboxes from `pod_sandbox`, images and containers from containerd.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use oci_spec::runtime::Mount;
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::containerd::container::{
    build_spec, cgroups_path, was_oom_killed, ContainerRecord, ContainerRuntime, ExitMessage,
    SpecInput, TaskIo, TaskState,
};
use crate::containerd::image::{ImageInfo, ImageService, PullPolicy};
use crate::containerd::{labels, Containerd, RuntimeError};
use crate::network::{write_pod_files_from, ClusterDns, NodeFiles, PodFiles, PodNetwork};
use crate::pod_dirs;
use crate::pod_sandbox::Sandboxes;
use crate::pods::pod_runtime::SandboxInfo;
use crate::pods::pod_runtime::{
    BindMount, ContainerConfig, FoundContainer, FoundState, ImageFailure, PodRuntime, ReadyImage,
    RtResult,
};
use crate::pods::RuntimeEvent;
use crate::probes::ExecRunner;

pub struct NodeRuntime {
    network: PodNetwork,
    node_ip: Option<IpAddr>,
    root: PathBuf,
    /// /etc/hosts and /etc/resolv.conf of each pod, bind-mounted into its containers.
    pod_mounts: Mutex<HashMap<String, Vec<Mount>>>,
    containers: ContainerRuntime,
    images: ImageService,
    sandboxes: Arc<Sandboxes>,
    /// Images the workers asked for, by normalised name, so starting a container does
    /// not read the image config from containerd again.
    ready: Mutex<HashMap<String, ImageInfo>>,
    /// Where ClusterFirst pods resolve names; none on a standalone node.
    cluster_dns: Option<ClusterDns>,
    /// The node's /etc/hosts and resolv.conf that pods' files start from.
    node_files: NodeFiles,
}

impl NodeRuntime {
    pub fn new(
        ctrd: Containerd,
        images: ImageService,
        root: &Path,
        network: PodNetwork,
        node_ip: Option<IpAddr>,
    ) -> Self {
        Self {
            network,
            node_ip,
            root: root.to_path_buf(),
            pod_mounts: Mutex::new(HashMap::new()),
            containers: ContainerRuntime::new(ctrd),
            images,
            sandboxes: Arc::new(Sandboxes::new(root)),
            ready: Mutex::new(HashMap::new()),
            cluster_dns: None,
            node_files: NodeFiles::default(),
        }
    }

    /// The containers' runtime, sharing its interactive containers' stdin with the API
    /// (attach).
    pub fn containers(&self) -> ContainerRuntime {
        self.containers.clone()
    }

    /// Containers' logs rotate at these limits.
    pub fn with_log_rotation(mut self, rotation: crate::container_logs::Rotation) -> Self {
        self.containers = self.containers.with_log_rotation(rotation);
        self
    }

    /// The node's resolv.conf (`--resolv-conf`), for dnsPolicy Default pods.
    pub fn with_resolv_conf(mut self, path: &Path) -> Self {
        self.node_files.resolv = path.to_path_buf();
        self
    }

    /// Points ClusterFirst pods' resolv.conf at the node's cluster DNS.
    pub fn with_cluster_dns(mut self, dns: ClusterDns) -> Self {
        self.cluster_dns = Some(dns);
        self
    }

    async fn image_info(&self, name: &str) -> RtResult<ImageInfo> {
        if let Some(info) = self.ready.lock().expect("image cache").get(name).cloned() {
            return Ok(info);
        }
        match self.images.get(name).await {
            Ok(Some(info)) => Ok(info),
            Ok(None) => Err(format!("image {name} is no longer on the node")),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Sandboxes) -> Result<T, crate::pod_sandbox::SandboxError> + Send + 'static,
    ) -> RtResult<T> {
        let sandboxes = self.sandboxes.clone();
        tokio::task::spawn_blocking(move || f(&sandboxes))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

/// A volume as the container sees it; `rbind` so mounts beneath the volume come along.
fn bind_mount(m: &BindMount) -> RtResult<Mount> {
    let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
    if m.read_only {
        options.push("ro".to_string());
    }
    oci_spec::runtime::MountBuilder::default()
        .destination(&m.destination)
        .typ("bind")
        .source(&m.source)
        .options(options)
        .build()
        .map_err(|e| e.to_string())
}

fn found(record: ContainerRecord) -> Option<FoundContainer> {
    let l = &record.labels;
    let state = match record.state {
        TaskState::Running { pid } => FoundState::Running { pid },
        TaskState::Exited { code, exited_at } => FoundState::Exited {
            exit_code: code as i32,
            finished_at: exited_at.map(unix_secs),
        },
        _ => FoundState::Dead,
    };
    Some(FoundContainer {
        pod_uid: l.get(labels::POD_UID)?.clone(),
        pod_namespace: l.get(labels::POD_NAMESPACE).cloned().unwrap_or_default(),
        pod_name: l.get(labels::POD_NAME).cloned().unwrap_or_default(),
        container_name: l.get(labels::CONTAINER_NAME)?.clone(),
        attempt: l
            .get(labels::ATTEMPT)
            .and_then(|a| a.parse().ok())
            .unwrap_or(0),
        created_at: None,
        id: record.id,
        state,
    })
}

impl PodRuntime for NodeRuntime {
    async fn create_sandbox(&self, pod: &Pod) -> RtResult<SandboxInfo> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let hostname = crate::containerd::container::pod_hostname(pod);
        let (id, name) = (uid.clone(), hostname.clone());
        let sandbox = self.blocking(move |s| s.create(&id, &name)).await?;
        let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
        let pod_ip = if host_network {
            self.node_ip
        } else {
            let addr = self
                .network
                .setup(&uid, &sandbox.net)
                .await
                .map_err(|e| e.to_string())?;
            Some(IpAddr::V4(addr.ip))
        };
        let dir = pod_dirs::pod_dir(&self.root, pod);
        let files = PodFiles::of(pod, &hostname, pod_ip);
        let mounts =
            write_pod_files_from(&self.node_files, &dir, &files, self.cluster_dns.as_ref())
                .map_err(|e| {
                    format!("write /etc/hosts, /etc/resolv.conf and /etc/hostname of the pod: {e}")
                })?;
        self.pod_mounts
            .lock()
            .expect("pod mounts")
            .insert(uid, mounts);
        Ok(SandboxInfo {
            pod_ip,
            host_ip: self.node_ip,
        })
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> RtResult<()> {
        self.pod_mounts.lock().expect("pod mounts").remove(pod_uid);
        let network = self
            .network
            .teardown(pod_uid)
            .await
            .map_err(|e| e.to_string());
        let uid = pod_uid.to_string();
        let sandbox = self.blocking(move |s| s.remove(&uid)).await;
        network.and(sandbox)
    }

    async fn list_sandboxes(&self) -> RtResult<Vec<String>> {
        self.blocking(|s| s.list()).await
    }

    async fn collect_garbage(&self, live: &HashSet<String>) -> RtResult<()> {
        let report = self.network.gc(live).await.map_err(|e| e.to_string())?;
        if !report.deleted_links.is_empty() || !report.released.is_empty() {
            info!(links = ?report.deleted_links, addresses = report.released.len(), "network leftovers removed");
        }
        Ok(())
    }

    fn exec_runner(&self) -> Arc<dyn ExecRunner> {
        Arc::new(self.containers.clone())
    }

    fn oom_killed(&self, pod_uid: &str, id: &str) -> bool {
        was_oom_killed(&cgroups_path(pod_uid, id))
    }

    async fn image_present(&self, image: &str) -> bool {
        matches!(self.images.get(image).await, Ok(Some(_)))
    }

    async fn ensure_image(
        &self,
        image: &str,
        pull_policy: &str,
    ) -> Result<ReadyImage, ImageFailure> {
        let policy = match pull_policy {
            "Always" => PullPolicy::Always,
            "Never" => PullPolicy::Never,
            _ => PullPolicy::IfNotPresent,
        };
        match self.images.ensure(image, policy).await {
            Ok(info) => {
                let ready = ReadyImage {
                    name: info.name.clone(),
                    digest: info.digest.clone(),
                    handle: info.name.clone(),
                    size: Some(info.size),
                };
                self.ready
                    .lock()
                    .expect("image cache")
                    .insert(info.name.clone(), info);
                Ok(ready)
            }
            Err(RuntimeError::InvalidArgument(m)) => Err(ImageFailure::InvalidName(m)),
            Err(e @ RuntimeError::Image { .. }) if e.to_string().contains("pull policy Never") => {
                Err(ImageFailure::NeverPull(e.to_string()))
            }
            Err(e) => Err(ImageFailure::Pull(e.to_string())),
        }
    }

    async fn start_container(
        &self,
        pod: &Pod,
        container: &Container,
        image: &ReadyImage,
        attempt: u32,
        log_path: &Path,
        config: &ContainerConfig,
    ) -> RtResult<(String, u32)> {
        let meta = &pod.metadata;
        let uid = meta.uid.clone().unwrap_or_default();
        let id = ContainerRuntime::container_id(&uid, &container.name, attempt);
        let info = self.image_info(&image.handle).await?;
        let lookup = uid.clone();
        let sandbox = self
            .blocking(move |s| s.get(&lookup))
            .await?
            .ok_or_else(|| format!("the sandbox of pod {uid} is gone"))?;
        let mut mounts = self
            .pod_mounts
            .lock()
            .expect("pod mounts")
            .get(&uid)
            .cloned()
            .unwrap_or_default();
        for m in &config.mounts {
            mounts.push(bind_mount(m)?);
        }
        let spec = build_spec(SpecInput {
            container_id: &id,
            pod,
            container,
            env: &config.env,
            image: &info.config,
            sandbox: &sandbox,
            mounts,
        })
        .map_err(|e| e.to_string())?;
        let labels = HashMap::from([
            (labels::POD_UID.to_string(), uid.clone()),
            (
                labels::POD_NAMESPACE.to_string(),
                meta.namespace.clone().unwrap_or_default(),
            ),
            (
                labels::POD_NAME.to_string(),
                meta.name.clone().unwrap_or_default(),
            ),
            (labels::CONTAINER_NAME.to_string(), container.name.clone()),
            (labels::ATTEMPT.to_string(), attempt.to_string()),
        ]);
        // A failed earlier try of the same attempt may have left a container behind.
        self.containers
            .remove(&id)
            .await
            .map_err(|e| e.to_string())?;
        let task_io = TaskIo {
            log: log_path.to_path_buf(),
            stdin: container.stdin == Some(true),
            tty: container.tty == Some(true),
        };
        let started = async {
            self.containers
                .create(&id, &spec, &info.chain_id, labels, &task_io)
                .await?;
            self.containers.start(&id).await
        };
        match started.await {
            Ok(pid) => Ok((id, pid)),
            Err(error) => {
                if let Err(e) = self.containers.remove(&id).await {
                    warn!(container = %id, error = %e, "cleanup after a failed start");
                }
                Err(error.to_string())
            }
        }
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> RtResult<()> {
        self.containers
            .stop(id, grace)
            .await
            .map_err(|e| e.to_string())
    }

    async fn remove_container(&self, id: &str) -> RtResult<()> {
        self.containers.remove(id).await.map_err(|e| e.to_string())
    }

    async fn inspect_container(&self, id: &str) -> RtResult<Option<FoundContainer>> {
        match self.containers.inspect(id).await {
            Ok(record) => Ok(found(record)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn list_containers(&self) -> RtResult<Vec<FoundContainer>> {
        let records = self.containers.list().await.map_err(|e| e.to_string())?;
        Ok(records.into_iter().filter_map(found).collect())
    }
}

/// Forwards containerd's OOM kills to the pod workers, for as long as the agent runs.
pub async fn forward_ooms(ctrd: Containerd, events: broadcast::Sender<RuntimeEvent>) {
    let mut ooms = ContainerRuntime::new(ctrd).subscribe_ooms();
    while let Some(id) = ooms.recv().await {
        let _ = events.send(RuntimeEvent::Oom { id });
    }
}

/// Forwards containerd's task exits to the pod workers, for as long as the agent runs.
pub async fn forward_exits(ctrd: Containerd, events: broadcast::Sender<RuntimeEvent>) {
    let mut exits = ContainerRuntime::new(ctrd).subscribe_exits();
    while let Some(ev) = exits.recv().await {
        let ev = match ev {
            ExitMessage::Exit(e) => RuntimeEvent::Exited {
                id: e.container_id,
                exit_code: e.exit_status as i32,
                finished_at: e.exited_at.map(unix_secs),
            },
            ExitMessage::Resync => RuntimeEvent::Resync,
        };
        let _ = events.send(ev);
    }
}

fn unix_secs(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
