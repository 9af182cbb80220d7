//! Which attempt's log file a log request reads, by the kubelet's rules: the running
//! container, or else the last one that ran (a crash-looping container's log is its last
//! run's output, not "waiting to start"); `previous` is the last terminated one.

use k8s_openapi::api::core::v1::ContainerStatus;

use super::error::ApiError;

/// The attempt whose log `status`'s container serves, or the kubelet's refusal.
pub fn log_attempt(status: &ContainerStatus, pod: &str, previous: bool) -> Result<u32, ApiError> {
    let name = &status.name;
    let state = status.state.as_ref();
    let last = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.container_id.as_deref())
        .and_then(attempt_of);
    if previous {
        return last.ok_or_else(|| {
            ApiError::InvalidArgument(format!(
                "previous terminated container {name:?} in pod {pod:?} not found"
            ))
        });
    }
    let current = status.container_id.as_deref().and_then(attempt_of);
    if state.is_some_and(|s| s.running.is_some()) {
        return Ok(current.unwrap_or(status.restart_count.max(0) as u32));
    }
    if let Some(terminated) = state.and_then(|s| s.terminated.as_ref()) {
        let id = terminated.container_id.as_deref().and_then(attempt_of);
        return id.or(current).or(last).ok_or_else(|| {
            ApiError::NotReady(format!("container {name:?} in pod {pod:?} is terminated"))
        });
    }
    if let Some(attempt) = last {
        return Ok(attempt);
    }
    let reason = state
        .and_then(|s| s.waiting.as_ref())
        .map(|w| w.reason.clone().unwrap_or_default());
    let why = match reason.as_deref() {
        Some("ErrImagePull") => ": image can't be pulled".to_string(),
        Some("ImagePullBackOff") => ": trying and failing to pull image".to_string(),
        Some(reason) => format!(": {reason}"),
        None => " - no logs yet".to_string(),
    };
    Err(ApiError::NotReady(format!(
        "container {name:?} in pod {pod:?} is waiting to start{why}"
    )))
}

/// The attempt in a `containerd://<uid>-<name>-<attempt>` id (`containerd/container/ids.rs`).
fn attempt_of(container_id: &str) -> Option<u32> {
    let id = container_id
        .strip_prefix("containerd://")
        .unwrap_or(container_id);
    id.rsplit('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    };

    use super::*;

    fn terminated(attempt: u32) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 1,
                container_id: Some(format!("containerd://abc-c-{attempt}")),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn waiting(reason: &str) -> ContainerState {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: None,
            }),
            ..Default::default()
        }
    }

    fn status(state: ContainerState, last: Option<u32>, restarts: i32) -> ContainerStatus {
        let running = state.running.is_some() || state.terminated.is_some();
        ContainerStatus {
            name: "c".into(),
            restart_count: restarts,
            container_id: running.then(|| format!("containerd://abc-c-{restarts}")),
            state: Some(state),
            last_state: last.map(terminated),
            ..Default::default()
        }
    }

    fn message(r: Result<u32, ApiError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn a_crash_looping_container_serves_its_last_run() {
        let s = status(waiting("CrashLoopBackOff"), Some(3), 4);
        assert_eq!(log_attempt(&s, "web", false).unwrap(), 3);
        // As the kubelet: --previous is the last terminated container, here the same run.
        assert_eq!(log_attempt(&s, "web", true).unwrap(), 3);
    }

    #[test]
    fn a_running_container_serves_itself_and_previous_the_run_before() {
        let running = ContainerState {
            running: Some(ContainerStateRunning { started_at: None }),
            ..Default::default()
        };
        let s = status(running.clone(), Some(1), 2);
        assert_eq!(log_attempt(&s, "web", false).unwrap(), 2);
        assert_eq!(log_attempt(&s, "web", true).unwrap(), 1);
        let first = status(running, None, 0);
        assert_eq!(
            message(log_attempt(&first, "web", true)),
            r#"previous terminated container "c" in pod "web" not found"#
        );
    }

    #[test]
    fn a_finished_container_serves_its_run() {
        let s = status(terminated(0), None, 0);
        assert_eq!(log_attempt(&s, "web", false).unwrap(), 0);
    }

    #[test]
    fn a_container_that_never_ran_is_waiting_to_start() {
        let s = status(waiting("ContainerCreating"), None, 0);
        assert_eq!(
            message(log_attempt(&s, "web", false)),
            r#"container "c" in pod "web" is waiting to start: ContainerCreating"#
        );
        let s = status(waiting("ErrImagePull"), None, 0);
        assert_eq!(
            message(log_attempt(&s, "web", false)),
            r#"container "c" in pod "web" is waiting to start: image can't be pulled"#
        );
    }
}
