//! Containers and tasks in containerd: create and start; `stop.rs` stops and removes,
//! `state.rs` lists and inspects.
//!
//! Every step is idempotent so a pod worker can repeat it after a crash or a containerd
//! restart: existing snapshots, containers and tasks are reused, missing ones on removal
//! are not errors. stdout/stderr go to FIFOs that the agent's copier turns into CRI log
//! lines (`container_logs`); the shim holds their write ends, so output written while
//! the agent is down waits in the pipes until the restarted agent adopts the container.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::snapshots::{MountsRequest, PrepareSnapshotRequest};
use containerd_client::services::v1::{
    Container, CreateContainerRequest, CreateRequest as CreateLeaseRequest, CreateTaskRequest,
    DeleteRequest as DeleteLeaseRequest, StartRequest,
};
use oci_spec::runtime::Spec;
use tonic::Code;
use tracing::{debug, info, warn};

use super::ids;
use super::interactive::{hold_fifo, InteractiveIo, TaskIo};
use crate::container_logs::{LogCopies, Rotation, Source};
use crate::containerd::client::SNAPSHOTTER;
use crate::containerd::{labels, Containerd, RuntimeError};

pub const RUNTIME: &str = "io.containerd.runc.v2";
const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
/// Lifetime of the lease that protects a fresh snapshot until its container references it.
const LEASE_TTL: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct ContainerRuntime {
    client: Containerd,
    /// The stdin and terminal FIFOs of interactive containers (`interactive.rs`); clones
    /// share them.
    interactive: InteractiveIo,
    /// The copiers of containers' output into their logs; clones share them.
    log_copies: LogCopies,
}

impl ContainerRuntime {
    pub fn new(client: Containerd) -> Self {
        Self {
            client,
            interactive: InteractiveIo::default(),
            log_copies: LogCopies::default(),
        }
    }

    /// Containers' logs rotate at these limits (`--container-log-max-size`/`-files`).
    pub fn with_log_rotation(mut self, rotation: Rotation) -> Self {
        self.log_copies = LogCopies::new(rotation);
        self
    }

    pub fn log_copies(&self) -> &LogCopies {
        &self.log_copies
    }

    pub fn client(&self) -> &Containerd {
        &self.client
    }

    pub fn interactive(&self) -> &InteractiveIo {
        &self.interactive
    }

    /// A stable, readable containerd id for one attempt of one container of a pod.
    pub fn container_id(pod_uid: &str, container_name: &str, attempt: u32) -> String {
        ids::container_id(pod_uid, container_name, attempt)
    }

    /// Creates the snapshot, the container and its (not yet started) task.
    pub async fn create(
        &self,
        id: &str,
        spec: &Spec,
        chain_id: &str,
        mut labels: HashMap<String, String>,
        io: &TaskIo,
    ) -> Result<(), RuntimeError> {
        let log_path = io.log.as_path();
        // Where a restarted agent finds the FIFOs to copy again (`state.rs`).
        labels.insert(
            labels::LOG_PATH.to_string(),
            log_path.to_string_lossy().into_owned(),
        );
        let c = &self.client;
        let spec_json = serde_json::to_vec(spec)
            .map_err(|e| RuntimeError::InvalidArgument(format!("spec of {id}: {e}")))?;
        let lease = self.lease(id).await?;
        let prepared = self
            .prepare_container(id, chain_id, labels, spec_json, &lease)
            .await;
        let dropped = c
            .leases()
            .delete(c.request(DeleteLeaseRequest {
                id: lease.clone(),
                sync: false,
            }))
            .await;
        if let Err(e) = dropped {
            warn!(container = %id, lease = %lease, error = %e, "lease not deleted, it expires by itself");
        }
        prepared?;

        if let Some(dir) = log_path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| RuntimeError::io(format!("create {}", dir.display()), e))?;
        }
        let mounts = c
            .snapshots()
            .mounts(c.request(MountsRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: id.into(),
            }))
            .await?
            .into_inner()
            .mounts;
        let stdin = if io.stdin {
            let path = self.interactive.open_stdin(id, io)?;
            path.to_string_lossy().into_owned()
        } else {
            String::new()
        };
        // Read ends held until the copier takes over, so the shim's opens do not block.
        let mut held = Vec::new();
        let source = io.log_source();
        let (stdout, stderr) = match &source {
            Source::Terminal(tty) => (tty.clone(), PathBuf::new()),
            Source::Pair { stdout, stderr } => (stdout.clone(), stderr.clone()),
        };
        for fifo in [&stdout, &stderr]
            .into_iter()
            .filter(|p| !p.as_os_str().is_empty())
        {
            held.push(hold_fifo(fifo)?);
        }
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let (stdout, stderr) = (path(&stdout), path(&stderr));
        let created = c
            .tasks()
            .create(c.request(CreateTaskRequest {
                container_id: id.into(),
                rootfs: mounts,
                stdin,
                stdout,
                stderr,
                terminal: io.tty,
                ..Default::default()
            }))
            .await;
        match created {
            Ok(resp) => info!(container = %id, pid = resp.get_ref().pid, "task created"),
            Err(s) if s.code() == Code::AlreadyExists => debug!(container = %id, "task reused"),
            Err(s) => {
                self.interactive.forget(id);
                return Err(s.into());
            }
        }
        self.log_copies
            .start(id, &source, log_path)
            .map_err(|e| RuntimeError::io(format!("copy the output of {id}"), e))?;
        drop(held);
        Ok(())
    }

    /// A short lease so containerd's garbage collector leaves the new snapshot alone
    /// until the container that references it exists; it expires if we crash.
    async fn lease(&self, id: &str) -> Result<String, RuntimeError> {
        let c = &self.client;
        let expire = jiff::Timestamp::now() + LEASE_TTL;
        let lease_id = format!("skiff-create-{id}");
        let req = CreateLeaseRequest {
            id: lease_id.clone(),
            labels: HashMap::from([("containerd.io/gc.expire".to_string(), expire.to_string())]),
        };
        match c.leases().create(c.request(req)).await {
            Ok(_) => Ok(lease_id),
            Err(s) if s.code() == Code::AlreadyExists => Ok(lease_id),
            Err(s) => Err(s.into()),
        }
    }

    async fn prepare_container(
        &self,
        id: &str,
        chain_id: &str,
        labels: HashMap<String, String>,
        spec_json: Vec<u8>,
        lease: &str,
    ) -> Result<(), RuntimeError> {
        let c = &self.client;
        let prepare = PrepareSnapshotRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: id.into(),
            parent: chain_id.into(),
            labels: HashMap::new(),
        };
        match c
            .snapshots()
            .prepare(c.request_leased(prepare, lease))
            .await
        {
            Ok(_) => debug!(container = %id, parent = %chain_id, "snapshot prepared"),
            Err(s) if s.code() == Code::AlreadyExists => debug!(container = %id, "snapshot reused"),
            Err(s) if s.code() == Code::NotFound => {
                return Err(RuntimeError::NotFound(format!("image snapshot {chain_id}")))
            }
            Err(s) => return Err(s.into()),
        }
        let container = Container {
            id: id.into(),
            labels,
            runtime: Some(Runtime {
                name: RUNTIME.into(),
                options: None,
            }),
            spec: Some(prost_types::Any {
                type_url: SPEC_TYPE_URL.into(),
                value: spec_json,
            }),
            snapshotter: SNAPSHOTTER.into(),
            snapshot_key: id.into(),
            ..Default::default()
        };
        let req = CreateContainerRequest {
            container: Some(container),
        };
        match c.containers().create(c.request_leased(req, lease)).await {
            Ok(_) => info!(container = %id, "container created"),
            Err(s) if s.code() == Code::AlreadyExists => {
                debug!(container = %id, "container reused")
            }
            Err(s) => return Err(s.into()),
        }
        Ok(())
    }

    /// Starts the task's process and returns its host pid.
    pub async fn start(&self, id: &str) -> Result<u32, RuntimeError> {
        let c = &self.client;
        let req = StartRequest {
            container_id: id.into(),
            exec_id: String::new(),
        };
        let pid = c.tasks().start(c.request(req)).await?.into_inner().pid;
        info!(container = %id, pid, "task started");
        Ok(pid)
    }
}
