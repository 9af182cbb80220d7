//! The DaemonSet's status, counted per node as Kubernetes' `updateDaemonSetStatus`
//! does: what `get ds` shows and `rollout status` waits on.

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};

use super::placement::is_updated;
use super::plan::{Moment, NodePods};
use crate::core::objects::{self, is_ready};
use crate::core::Error;
use crate::store::{Key, Store};

pub fn compute(ds: &DaemonSet, nodes: &[NodePods<'_>], at: Moment<'_>) -> DaemonSetStatus {
    let mut status = DaemonSetStatus {
        observed_generation: ds.metadata.generation,
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    let (mut ready, mut available, mut updated) = (0, 0, 0);
    for node in nodes {
        let scheduled = !node.active.is_empty();
        if !node.placement.should_run {
            if scheduled {
                status.number_misscheduled += 1;
            }
            continue;
        }
        status.desired_number_scheduled += 1;
        if !scheduled {
            continue;
        }
        status.current_number_scheduled += 1;
        // The oldest pod speaks for the node (while surging, the old one until it goes).
        let pod = node.active[0];
        if is_ready(pod) {
            ready += 1;
            if at.available(pod) {
                available += 1;
            }
        }
        if is_updated(pod, at.hash) {
            updated += 1;
        }
    }
    status.number_ready = ready;
    status.number_available = Some(available);
    status.number_unavailable = Some(status.desired_number_scheduled - available);
    status.updated_number_scheduled = Some(updated);
    status
}

/// Writes the status when it changed.
pub async fn write(
    store: &dyn Store,
    ds: &DaemonSet,
    status: DaemonSetStatus,
) -> Result<(), Error> {
    if ds.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let meta = &ds.metadata;
    let key = Key::new(
        "DaemonSet",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    );
    let uid = meta.uid.as_deref().unwrap_or_default();
    objects::write_status(store, &key, uid, status, |d: &mut DaemonSet| &mut d.status).await
}
