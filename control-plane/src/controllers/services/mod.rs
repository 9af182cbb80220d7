//! The Services' controllers ([`spawn`]): the Endpoints controller (`endpoints.rs`, with
//! the rules in `subsets.rs`) and the release of a deleted Service's claims (allocated by
//! `resources::allocation`), however it was deleted (`skiff delete`, its namespace going),
//! plus a periodic repair of stale claims.

pub mod endpoints;
pub mod subsets;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use endpoints::EndpointsController;

use super::nodes::NodeContext;
use crate::core::ControlPlane;
use crate::resources::allocation::{release_service, repair};
use crate::store::{EventType, Store};

/// How often stale claims are looked for.
const REPAIR_EVERY: Duration = Duration::from_secs(120);

/// Starts the Endpoints controller and the claim release/repair loop.
pub fn spawn(cp: Arc<ControlPlane>) -> Vec<JoinHandle<()>> {
    let ctx = NodeContext::new(cp.clone());
    vec![
        tokio::spawn(EndpointsController::new(ctx).run()),
        tokio::spawn(release_loop(cp.store.clone(), None)),
    ]
}

/// Releases the claims of deleted Services as the deletions happen (those after revision
/// `from`; `None`: from now), and repairs stale claims at start and every
/// [`REPAIR_EVERY`].
pub async fn release_loop(store: Arc<dyn Store>, mut from: Option<i64>) {
    loop {
        if let Err(err) = release_once(store.as_ref(), from.take()).await {
            warn!(error = %err, "service claim release: watch broken; restarting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn release_once(
    store: &dyn Store,
    from: Option<i64>,
) -> Result<(), crate::store::StoreError> {
    let from = match from {
        Some(from) => from,
        None => store.current_revision().await?,
    };
    match repair(store).await {
        Ok(0) => {}
        Ok(dropped) => info!(dropped, "stale service claims released"),
        Err(err) => warn!(error = %err, "stale service claims not repaired"),
    }
    let mut events = store.watch(Some("Service"), from).await?;
    let mut repairs = tokio::time::interval(REPAIR_EVERY);
    repairs.tick().await;
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { return Ok(()) };
                let event = event?;
                if event.kind != EventType::Deleted {
                    continue;
                }
                if let Ok(service) = serde_json::from_slice::<Service>(&event.object.json) {
                    release_service(store, &service, &event.object.uid).await;
                }
            }
            _ = repairs.tick() => {
                if let Err(err) = repair(store).await {
                    warn!(error = %err, "stale service claims not repaired");
                }
            }
        }
    }
}
