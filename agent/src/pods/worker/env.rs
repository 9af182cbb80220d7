//! The worker's side of a container's environment: resolve it for a start, or hold the
//! container in `CreateContainerConfigError` and try again shortly (not the crash-loop
//! backoff), so it starts by itself once the ConfigMap or Secret appears.

use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use super::events::Warning;
use super::Worker;
use crate::pods::env::{self, EnvSources};
use crate::pods::pod_runtime::PodRuntime;
use crate::pods::slot::SlotState;

/// How soon a container whose config could not be built is tried again.
pub(super) const CONFIG_RETRY: Duration = Duration::from_secs(3);

impl<R: PodRuntime> Worker<R> {
    /// The env of slot `i` for this start; `None` when it cannot be built, the slot then
    /// waits in `CreateContainerConfigError`.
    pub(super) async fn resolve_env(&mut self, i: usize) -> Option<Vec<(String, String)>> {
        let sources = EnvSources {
            pod: &self.pod,
            sandbox: &self.sandbox,
            allocatable: &self.cfg.allocatable,
            objects: self.cfg.objects.as_ref(),
            services: &self.cfg.services,
        };
        match env::resolve_env(&sources, &self.slots[i].spec).await {
            Ok(env) => {
                for message in env.skipped {
                    self.pod_event(Warning, "InvalidEnvironmentVariableNames", message);
                }
                Some(env.vars)
            }
            Err(error) => {
                self.config_error(i, error.to_string());
                None
            }
        }
    }

    /// Holds slot `i` in `CreateContainerConfigError` with `message` until
    /// [`CONFIG_RETRY`] has passed.
    pub(super) fn config_error(&mut self, i: usize, message: String) {
        let slot = &mut self.slots[i];
        let repeated = matches!(&slot.state, SlotState::Waiting { reason, message: m }
            if reason == "CreateContainerConfigError" && *m == message);
        if !repeated {
            warn!(container = slot.name(), error = %message, retry_in = ?CONFIG_RETRY, "container config not ready");
        }
        slot.wait("CreateContainerConfigError", message.clone());
        slot.next_try = Some(Instant::now() + CONFIG_RETRY);
        self.container_event(i, Warning, "Failed", format!("Error: {message}"));
    }
}
