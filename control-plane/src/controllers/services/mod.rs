//! The Services' controllers ([`spawn`]): the Endpoints controller (`endpoints.rs`, with
//! the rules in `subsets.rs`), the EndpointSlices mirrored from them (`slices.rs`) and
//! the release of a deleted Service's claims (allocated by `resources::allocation`),
//! however it was deleted (`skiff delete`, its namespace going), plus a periodic repair
//! of stale claims.

mod claims;
pub mod endpoints;
pub mod slices;
pub mod subsets;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

pub use claims::ClaimReleaser;
pub use endpoints::EndpointsController;
pub use slices::EndpointSliceController;

use super::nodes::NodeContext;
use super::runtime::{Controller, RuntimeConfig};
use crate::core::{Clock, ControlPlane};
use crate::store::{follow_kinds, Store};

/// How often stale claims are looked for.
const REPAIR_EVERY: Duration = Duration::from_secs(120);
/// Service events waiting for the claim releaser.
const TRIGGER_BUFFER: usize = 1024;

/// Starts the Endpoints controller and the claim release/repair loop.
pub fn spawn(cp: Arc<ControlPlane>) -> Vec<JoinHandle<()>> {
    let ctx = NodeContext::new(cp.clone());
    let clock = ctx.clock.clone();
    vec![
        tokio::spawn(EndpointSliceController::new(cp.store.clone(), clock.clone()).run()),
        tokio::spawn(EndpointsController::new(ctx).run()),
        tokio::spawn(release_loop(cp.store.clone(), clock, None)),
    ]
}

/// Releases the claims of deleted Services as the deletions happen (those after revision
/// `from`; `None`: from now), and repairs stale claims at start and every
/// [`REPAIR_EVERY`] ([`ClaimReleaser`] on the reconcile runtime).
pub async fn release_loop(store: Arc<dyn Store>, clock: Arc<dyn Clock>, from: Option<i64>) {
    let config = RuntimeConfig {
        resync: REPAIR_EVERY,
        ..RuntimeConfig::default()
    };
    let releaser = Controller::new(
        Arc::new(ClaimReleaser::new(store.clone(), clock)),
        store.clone(),
        config,
    );
    match from {
        Some(from) => {
            let triggers = follow_kinds(store, ["Service"], from, TRIGGER_BUFFER);
            releaser.run_with(triggers).await
        }
        None => releaser.run().await,
    }
}
