//! What every layer above shares (docs/architecture.md, Control plane layers): the
//! cluster's settings, the clock, generated ids, the registry of kinds, annotation names,
//! typed object access, the event recorder and the one error type. Imports only `store` and
//! `pki`.

pub mod annotations;
pub mod clock;
mod cluster;
mod error;
pub mod events;
pub mod ids;
pub mod kinds;
pub mod objects;
pub mod registry;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cluster::{ClusterConfig, ControlPlane, Ranges};
pub use error::Error;
pub use kinds::Kind;
