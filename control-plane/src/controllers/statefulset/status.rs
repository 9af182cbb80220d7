//! The StatefulSet's status, counted as Kubernetes' `updateStatefulSetStatus` does: pods
//! that exist, are Ready, available for `minReadySeconds`, and at the current or the
//! update revision; the current revision becomes the update revision once every pod
//! runs it and is Ready.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;

use super::identity::revision_of;
use crate::core::objects::{self, availability, is_ready, Availability};
use crate::core::Error;
use crate::store::{Key, Store};

/// The status for `pods` (the set's, terminating ones included, as Kubernetes counts
/// them) and, when some pod becomes available later, how long until then.
pub fn count(
    set: &StatefulSet,
    pods: &[&Pod],
    current_revision: &str,
    update_revision: &str,
    now: Timestamp,
) -> (StatefulSetStatus, Option<Duration>) {
    let spec = set.spec.clone().unwrap_or_default();
    let min_ready = Duration::from_secs(spec.min_ready_seconds.unwrap_or(0).max(0) as u64);
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        collision_count: Some(
            set.status
                .as_ref()
                .and_then(|s| s.collision_count)
                .unwrap_or(0),
        ),
        current_revision: Some(current_revision.to_string()),
        update_revision: Some(update_revision.to_string()),
        replicas: pods.len() as i32,
        ..Default::default()
    };
    let mut wait: Option<Duration> = None;
    let (mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0);
    for pod in pods {
        if is_ready(pod) {
            ready += 1;
        }
        match availability(pod, min_ready, now) {
            Availability::Available => available += 1,
            Availability::ReadyFor(left) => wait = Some(wait.map_or(left, |w| w.min(left))),
            Availability::NotReady => {}
        }
        let revision = revision_of(pod);
        if revision == Some(current_revision) {
            current += 1;
        }
        if revision == Some(update_revision) {
            updated += 1;
        }
    }
    let wanted = spec.replicas.unwrap_or(1);
    if updated == wanted && ready == wanted && status.replicas == wanted {
        status.current_revision = Some(update_revision.to_string());
        current = updated;
    }
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(current);
    status.updated_replicas = Some(updated);
    (status, wait)
}

/// Writes the status when it changed.
pub async fn write(
    store: &dyn Store,
    set: &StatefulSet,
    status: StatefulSetStatus,
) -> Result<(), Error> {
    if set.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let meta = &set.metadata;
    let key = Key::new(
        "StatefulSet",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    );
    let uid = meta.uid.as_deref().unwrap_or_default();
    objects::write_status(store, &key, uid, status, |s: &mut StatefulSet| {
        &mut s.status
    })
    .await
}
