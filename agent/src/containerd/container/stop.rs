//! Stopping and removing containers: SIGTERM, a grace period, SIGKILL; then task,
//! container and snapshot deleted, each step tolerant of what is already gone.

use std::time::Duration;

use containerd_client::services::v1::snapshots::RemoveSnapshotRequest;
use containerd_client::services::v1::{
    DeleteContainerRequest, DeleteTaskRequest, KillRequest, WaitRequest,
};
use tonic::Code;
use tracing::info;

use super::lifecycle::ContainerRuntime;
use super::state::TaskState;
use crate::containerd::client::SNAPSHOTTER;
use crate::containerd::RuntimeError;

/// How long a SIGKILLed task may take to be reaped before stop/remove give up.
const KILL_WAIT: Duration = Duration::from_secs(10);

impl ContainerRuntime {
    /// SIGTERM, up to `grace` to exit, then SIGKILL to every process of the container.
    /// A container without a live task is already stopped; a task that never started
    /// is killed at once (its `runc init` is pid 1 and ignores SIGTERM).
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        match self.task_state(id).await? {
            TaskState::NoTask | TaskState::Exited { .. } => return Ok(()),
            TaskState::Created | TaskState::Unknown => return self.kill_and_wait(id).await,
            TaskState::Running { .. } => {}
        }
        if !self.kill(id, libc::SIGTERM as u32, false).await? {
            return Ok(());
        }
        match tokio::time::timeout(grace, self.wait(id)).await {
            Ok(result) => {
                let code = result?;
                info!(container = %id, code, "task stopped");
                return Ok(());
            }
            Err(_) => {
                info!(container = %id, grace_ms = grace.as_millis() as u64, "grace period over, killing")
            }
        }
        self.kill_and_wait(id).await
    }

    async fn kill_and_wait(&self, id: &str) -> Result<(), RuntimeError> {
        if !self.kill(id, libc::SIGKILL as u32, true).await? {
            return Ok(());
        }
        match tokio::time::timeout(KILL_WAIT, self.wait(id)).await {
            Ok(result) => {
                let code = result?;
                info!(container = %id, code, "task killed");
                Ok(())
            }
            Err(_) => Err(RuntimeError::Unavailable(format!(
                "task {id} still running {}s after SIGKILL",
                KILL_WAIT.as_secs()
            ))),
        }
    }

    /// Sends `signal`; false when there is no live process to signal.
    async fn kill(&self, id: &str, signal: u32, all: bool) -> Result<bool, RuntimeError> {
        let c = self.client();
        let req = KillRequest {
            container_id: id.into(),
            exec_id: String::new(),
            signal,
            all,
        };
        match c.tasks().kill(c.request(req)).await {
            Ok(_) => Ok(true),
            // containerd says NotFound both for no task and for "process already finished".
            Err(s) if s.code() == Code::NotFound => Ok(false),
            Err(s) => Err(s.into()),
        }
    }

    /// Blocks until the task's process exits; returns its exit code.
    async fn wait(&self, id: &str) -> Result<u32, RuntimeError> {
        let c = self.client();
        let req = WaitRequest {
            container_id: id.into(),
            exec_id: String::new(),
        };
        match c.tasks().wait(c.request(req)).await {
            Ok(resp) => Ok(resp.into_inner().exit_status),
            Err(s) if s.code() == Code::NotFound => Ok(0),
            Err(s) => Err(s.into()),
        }
    }

    /// Deletes task, container and snapshot; whatever is already gone is skipped.
    pub async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let c = self.client();
        self.interactive().forget(id);
        match self.task_state(id).await? {
            TaskState::Running { .. } | TaskState::Created | TaskState::Unknown => {
                self.kill_and_wait(id).await?
            }
            TaskState::Exited { .. } | TaskState::NoTask => {}
        }
        let deleted = c
            .tasks()
            .delete(c.request(DeleteTaskRequest {
                container_id: id.into(),
            }))
            .await;
        ignore_not_found(deleted.map(drop))?;
        // Snapshot before container, as containerd's own client does: deleting the
        // container first lets the garbage collector drop the snapshot without unlinking
        // it from its parent, which then can never be removed (containerd#11908).
        let removed = c
            .snapshots()
            .remove(c.request(RemoveSnapshotRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: id.into(),
            }))
            .await;
        ignore_not_found(removed.map(drop))?;
        let deleted = c
            .containers()
            .delete(c.request(DeleteContainerRequest { id: id.into() }))
            .await;
        ignore_not_found(deleted.map(drop))?;
        info!(container = %id, "container removed");
        Ok(())
    }
}

fn ignore_not_found(result: Result<(), tonic::Status>) -> Result<(), RuntimeError> {
    match result {
        Err(s) if s.code() != Code::NotFound => Err(s.into()),
        _ => Ok(()),
    }
}
