//! Several control-plane servers on one store (docs/architecture.md, High availability):
//! every server serves the API, exactly one at a time — the holder of the Lease
//! `kube-system/skiff-control-plane` — runs the singletons (controllers, scheduler,
//! compactor). `election.rs` makes one attempt at the lease, `run.rs` keeps trying and
//! renewing and starts and stops the singletons with it, `identity.rs` keeps each
//! server's own Lease with the address it serves on (what the `kubernetes` Endpoints
//! list).
//!
//! Timing is client-go's: a 15 s lease renewed every 2 s; a leader that has not renewed
//! for 10 s (the renew deadline) stops its singletons at once, 5 s before any other server
//! may take the lease, so two leaders never act together.

pub mod cluster_ca;
mod election;
pub mod identity;
mod run;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use election::Elector;
pub use identity::{live_servers, IdentityKeeper, LiveServer};
pub use run::{keep_electing, run_while_leading};

/// The leader Lease's namespace and name.
pub const LEASE_NAMESPACE: &str = "kube-system";
pub const LEASE_NAME: &str = "skiff-control-plane";

/// What an elector tries for, and how often.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This server's identity (`holderIdentity`).
    pub identity: String,
    /// How long a lease lasts unrenewed (`leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// A leader that could not renew for this long stops leading.
    pub renew_deadline: Duration,
    /// How often to try (for the lease) and renew it.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// The leader lease for `identity` lasting `lease_duration`: renewed every
    /// `lease/7.5` (2 s of 15 s), given up after `2/3` of it unrenewed (10 s of 15 s), as
    /// kube-controller-manager's defaults.
    pub fn leader(identity: impl Into<String>, lease_duration: Duration) -> Self {
        LeaseConfig {
            namespace: LEASE_NAMESPACE.into(),
            name: LEASE_NAME.into(),
            identity: identity.into(),
            lease_duration,
            renew_deadline: lease_duration.mul_f64(2.0 / 3.0),
            retry_period: lease_duration.div_f64(7.5),
        }
    }
}
