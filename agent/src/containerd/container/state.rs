//! What containerd knows about skiff's containers and their tasks.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use containerd_client::services::v1::{
    GetContainerRequest, GetRequest, ListContainersRequest, ListTasksRequest,
};
use containerd_client::types::v1::{Process, Status};
use tonic::Code;

use tracing::{info, warn};

use super::interactive::TaskIo;
use super::lifecycle::ContainerRuntime;
use crate::containerd::{labels, RuntimeError};

/// What containerd knows about a task, from the agent's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// The container exists without a task (never started, or task deleted).
    NoTask,
    /// The task exists but its process was not started.
    Created,
    Running {
        pid: u32,
    },
    Exited {
        code: u32,
        exited_at: Option<SystemTime>,
    },
    /// The shim could not say (it died or is wedged); treat as needing a restart.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub id: String,
    pub labels: HashMap<String, String>,
    pub state: TaskState,
}

impl ContainerRuntime {
    /// Every container skiff created in this namespace, with its task state.
    pub async fn list(&self) -> Result<Vec<ContainerRecord>, RuntimeError> {
        let c = self.client();
        let filter = format!("labels.\"{}\"", labels::POD_UID);
        let containers = c
            .containers()
            .list(c.request(ListContainersRequest {
                filters: vec![filter],
            }))
            .await?
            .into_inner()
            .containers;
        let tasks = c
            .tasks()
            .list(c.request(ListTasksRequest::default()))
            .await?
            .into_inner()
            .tasks;
        let mut by_id: HashMap<String, Process> =
            tasks.into_iter().map(|t| (t.id.clone(), t)).collect();
        let mut records: Vec<ContainerRecord> = containers
            .into_iter()
            .map(|ctr| ContainerRecord {
                state: by_id
                    .remove(&ctr.id)
                    .map_or(TaskState::NoTask, |p| task_state(&p)),
                id: ctr.id,
                labels: ctr.labels,
            })
            .collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        for r in &records {
            self.resume_log_copy(r);
        }
        Ok(records)
    }

    /// Reopens the output FIFOs of a container a previous agent started (nothing when
    /// this agent already copies them, or when an older agent gave the shim a log file).
    fn resume_log_copy(&self, record: &ContainerRecord) {
        let Some(log) = record.labels.get(labels::LOG_PATH) else {
            return;
        };
        if !matches!(record.state, TaskState::Running { .. } | TaskState::Created)
            || self.log_copies().is_copying(&record.id)
        {
            return;
        }
        let log = std::path::PathBuf::from(log);
        let io = TaskIo {
            tty: log.with_extension("tty").exists(),
            log,
            stdin: false,
        };
        match self
            .log_copies()
            .start(&record.id, &io.log_source(), &io.log)
        {
            Ok(()) => info!(container = %record.id, "log copy resumed"),
            Err(error) => warn!(container = %record.id, %error, "log copy not resumed"),
        }
    }

    pub async fn inspect(&self, id: &str) -> Result<ContainerRecord, RuntimeError> {
        let c = self.client();
        let container = c
            .containers()
            .get(c.request(GetContainerRequest { id: id.into() }))
            .await?
            .into_inner()
            .container
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        Ok(ContainerRecord {
            id: container.id,
            labels: container.labels,
            state: self.task_state(id).await?,
        })
    }

    pub(super) async fn task_state(&self, id: &str) -> Result<TaskState, RuntimeError> {
        let c = self.client();
        let req = GetRequest {
            container_id: id.into(),
            exec_id: String::new(),
        };
        match c.tasks().get(c.request(req)).await {
            Ok(resp) => Ok(resp
                .into_inner()
                .process
                .map_or(TaskState::NoTask, |p| task_state(&p))),
            Err(s) if s.code() == Code::NotFound => Ok(TaskState::NoTask),
            Err(s) => Err(s.into()),
        }
    }
}

fn task_state(p: &Process) -> TaskState {
    match Status::try_from(p.status).unwrap_or(Status::Unknown) {
        Status::Created => TaskState::Created,
        Status::Running | Status::Paused | Status::Pausing => TaskState::Running { pid: p.pid },
        Status::Stopped => TaskState::Exited {
            code: p.exit_status,
            exited_at: p.exited_at.as_ref().and_then(system_time),
        },
        Status::Unknown => TaskState::Unknown,
    }
}

/// containerd reports "no exit time" as the zero timestamp of Go's time.Time.
pub(crate) fn system_time(ts: &prost_types::Timestamp) -> Option<SystemTime> {
    let secs = u64::try_from(ts.seconds).ok().filter(|s| *s > 0)?;
    let nanos = u32::try_from(ts.nanos).unwrap_or(0);
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_states_from_processes() {
        let p = |status: Status, pid, exit_status, secs| Process {
            status: status as i32,
            pid,
            exit_status,
            exited_at: Some(prost_types::Timestamp {
                seconds: secs,
                nanos: 0,
            }),
            ..Default::default()
        };
        assert_eq!(
            task_state(&p(Status::Running, 42, 0, 0)),
            TaskState::Running { pid: 42 }
        );
        assert_eq!(
            task_state(&p(Status::Created, 42, 0, 0)),
            TaskState::Created
        );
        assert_eq!(
            task_state(&p(Status::Stopped, 42, 137, 10)),
            TaskState::Exited {
                code: 137,
                exited_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(10))
            }
        );
        // Go's zero time is before the epoch.
        assert_eq!(
            task_state(&p(Status::Stopped, 1, 0, -62135596800)),
            TaskState::Exited {
                code: 0,
                exited_at: None
            }
        );
        assert_eq!(task_state(&p(Status::Unknown, 1, 0, 0)), TaskState::Unknown);
    }
}
