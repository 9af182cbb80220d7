//! Services on the control plane side (design.md §4, issue #7):
//!
//! - `allocate.rs` + `claims.rs`: ClusterIP and NodePort allocation when apply writes a
//!   Service ([`allocate_if_service`], the one call apply makes), one store claim per
//!   value so nothing is handed out twice, across concurrent applies and restarts;
//! - [`spawn`]: the background parts: the Endpoints controller (`endpoints.rs`, with the
//!   rules in `subsets.rs`) and the release of a deleted Service's claims, however it was
//!   deleted (`skiff delete`, its namespace going), plus a periodic repair of stale claims;
//! - `watch.rs`: the Node service's WatchServices and WatchEndpoints streams.

mod allocate;
mod claims;
pub mod endpoints;
pub mod subsets;
pub mod watch;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use serde_json::Value;
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use allocate::{allocate, repair, Allocation, Ranges};
pub use claims::{IP_CLAIM, PORT_CLAIM};
pub use endpoints::EndpointsController;

use crate::api::ApiError;
use crate::nodes::NodeContext;
use crate::state::ControlPlane;
use crate::store::{EventType, Key, Store};

/// How often stale claims are looked for.
const REPAIR_EVERY: Duration = Duration::from_secs(120);

/// Apply's hook: for a Service, claims its ClusterIP and NodePorts and writes them into
/// `desired`; for any other kind, nothing. The caller commits the allocation after its
/// write and undoes it if the write does not happen.
pub async fn allocate_if_service(
    store: &dyn Store,
    ranges: &Ranges,
    key: &Key,
    current: Option<&Value>,
    desired: &mut Value,
) -> Result<Allocation, ApiError> {
    if key.kind != "Service" {
        return Ok(Allocation::default());
    }
    allocate(store, ranges, current, desired).await
}

/// Apply's hook before validating an update: a Service changed to a type without node
/// ports (ClusterIP, ExternalName) drops the node ports that were allocated, not written
/// by the user (they would fail validation, and are released after the write).
pub fn drop_allocated_node_ports(key: &Key, user: &Value, merged: &mut Value) {
    if key.kind != "Service" {
        return;
    }
    let service_type = merged
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if matches!(service_type, "NodePort" | "LoadBalancer") {
        return;
    }
    let written: Vec<&Value> = user
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("nodePort").is_some())
        .map(|p| &p["port"])
        .collect();
    let ports = merged
        .pointer_mut("/spec/ports")
        .and_then(Value::as_array_mut);
    for port in ports.into_iter().flatten() {
        if !written.contains(&&port["port"]) {
            if let Some(port) = port.as_object_mut() {
                port.remove("nodePort");
            }
        }
    }
}

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
                    allocate::release_service(store, &service, &event.object.uid).await;
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
