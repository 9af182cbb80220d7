//! Containers: OCI spec, create/start/stop/delete, exit events.

mod attach;
mod events;
mod exec;
mod ids;
mod interactive;
mod lifecycle;
mod oom;
mod process;
mod resources;
pub mod spec;
mod state;
mod stop;

pub use attach::{AttachInput, AttachOutput, AttachSpec};
pub use events::{ExitEvent, ExitMessage};
pub use exec::{ExecOutput, MAX_EXEC_OUTPUT};
pub use ids::{is_valid_id, MAX_ID_LEN};
pub use interactive::{InteractiveIo, StdinWriter, TaskIo};
pub use lifecycle::{ContainerRuntime, RUNTIME};
pub use oom::{was_oom_killed, was_oom_killed_in};
pub use process::{expand, expand_with};
pub use spec::{
    build_spec, cgroups_path, pod_hostname, SpecError, SpecInput, DEFAULT_CAPABILITIES, SHIM_GROUP,
};
pub use state::{ContainerRecord, TaskState};

#[cfg(test)]
mod real_tests;
