//! Containers: OCI spec, create/start/stop/delete, exit events.

mod events;
mod ids;
mod lifecycle;
mod process;
mod resources;
pub mod spec;
mod state;
mod stop;

pub use events::{ExitEvent, ExitMessage};
pub use ids::{is_valid_id, MAX_ID_LEN};
pub use lifecycle::{ContainerRuntime, RUNTIME};
pub use spec::{
    build_spec, cgroups_path, pod_hostname, SpecError, SpecInput, DEFAULT_CAPABILITIES,
};
pub use state::{ContainerRecord, TaskState};

#[cfg(test)]
mod real_tests;
